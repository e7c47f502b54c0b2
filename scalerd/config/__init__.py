"""The configuration: YAML text to the typed, validated model in `scalerd.config.model`."""
from scalerd.config.durations import parse_duration
from scalerd.config.errors import ConfigError
from scalerd.config.loader import load_config_file, load_config_text, policy_target, policy_target_name
from scalerd.config.model import Config

__all__ = ["Config", "ConfigError", "load_config_file", "load_config_text", "parse_duration", "policy_target", "policy_target_name"]
