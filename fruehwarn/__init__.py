"""fruehwarn: the composition root (CLI, scheduler, demo)."""
