"""Validated configuration: typed schemas, a YAML loader with path-naming errors, XML import.

    from glidein.common.config import load_factory_config, load_frontend_config

Both raise `ConfigError` (subclass `ConfigProblems`, `.lines`: one `file: path: message` line per
problem) and return typed, immutable-by-convention pydantic models.
"""

from glidein.common.config.factory import FactoryConfig
from glidein.common.config.frontend import FrontendConfig
from glidein.common.config.loader import (
    ConfigProblems,
    load_config,
    load_factory_config,
    load_frontend_config,
)

__all__ = [
    "ConfigProblems",
    "FactoryConfig",
    "FrontendConfig",
    "load_config",
    "load_factory_config",
    "load_frontend_config",
]
