"""Tests of the dashboard, its users and the user CLI."""
