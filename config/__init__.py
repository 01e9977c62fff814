"""Typed settings for fruehwarn. Imports nothing else of the project."""

from config.settings import (
    ConfigError,
    Settings,
    SourceConfig,
    load_settings,
    parse_duration,
)

__all__ = ["ConfigError", "Settings", "SourceConfig", "load_settings", "parse_duration"]
