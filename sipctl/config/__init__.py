"""YAML config directory -> desired models (see README "Config reference")."""

from sipctl.config.loader import Config, find_files, load_config

__all__ = ["Config", "find_files", "load_config"]
