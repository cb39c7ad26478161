"""One run of `fba`: the parsed arguments, the environment, the logger, and what a handler may ask
for (the config, a step context).

Imports of the config model, the HTTP client and the markers happen in the methods that need
them, so a command that reads no config (`--help`, `status`, `units render`) never loads
pydantic: every unit start on a slow guest pays for what it imports.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from automation.errors import ConfigError, UsageError
from automation.log import Logger
from automation.spec.environment import VARIABLES, empty_path_problem
from automation.spec.markers import DEFAULT_STATE_DIR
from automation.spec.units import DEFAULT_CONFIG_PATH

if TYPE_CHECKING:
    import argparse

    from automation.context import Context
    from automation.http import HttpClient
    from automation.spec.config import ClusterConfig


class Invocation:
    def __init__(self, args: argparse.Namespace, env: Mapping[str, str], out: Callable[[str], None]) -> None:
        self.args = args
        self.env = env
        self.out = out
        self.log = Logger(stream=sys.stdout)
        problem = empty_path_problem(env)
        if problem:
            raise UsageError(f"fba: {problem}")
        self._check_environment()
        self.config_path: Path = getattr(args, "config", None) or Path(env.get("FBA_CONFIG", DEFAULT_CONFIG_PATH))
        self.state_dir: Path = getattr(args, "state_dir", None) or Path(
            env.get("FBA_STATE_DIR", str(DEFAULT_STATE_DIR))
        )

    def _check_environment(self) -> None:
        """Every command judges the FBA_* names in its environment the same way
        (`configfile.check_environment`): one meant as an override that sets nothing is an
        error, any other unknown one a WARN. The WARNs go to stderr, so that a command whose
        stdout is a document (`status --format json`, `config schema`) keeps it parseable.
        The config model is imported only when there is an unknown name to judge."""
        if all(name in VARIABLES for name in self.env if name.startswith("FBA_")):
            return
        from automation import configfile

        try:
            warnings = configfile.check_environment(self.env)
        except ConfigError:
            if getattr(self.args, "_command", None) == "config validate":
                return  # judged again by configfile.load, and reported as its own plain lines
            raise
        if warnings:
            log = Logger(stream=sys.stderr)
            for warning in warnings:
                log.warn(f"Environment: {warning}")

    def load_config(self) -> ClusterConfig:
        """The validated config; binds the node id to the logger and redacts the notify token.
        A config file others may read is refused (exit 3) before anything uses it."""
        from automation import configfile, pathroles, secretfiles

        config = configfile.load(self.config_path, self.env)
        # Before anything is written: a writer configured onto another role's file (the
        # textfile over the credentials, the credentials at a marker's name) would destroy it.
        pathroles.refuse_clash(config, self.config_path, self.state_dir)
        self.log = self.log.bind(node_id=config.node_id)
        for secret in config.log_secrets():
            self.log.redactor.add(secret)
        for warning in config.warnings():
            self.log.warn(f"Configuration: {warning}")
        if self.enforces_file_modes:
            secretfiles.enforce([secretfiles.config_file(self.config_path)], self.log)
        return config

    @property
    def enforces_file_modes(self) -> bool:
        """Every command refuses secret files open to others before it uses them, except
        `preflight`, which reports the same verdicts as checks (from the same code)."""
        return bool(getattr(self.args, "_command", None) != "preflight")

    def http_client(self, config: ClusterConfig, log: Logger) -> HttpClient:
        """The one way a command gets an HTTP client for this config: the TLS secrets it will
        load are checked first, so no request is ever made with a key others can read."""
        from automation import secretfiles
        from automation.http import HttpClient

        if self.enforces_file_modes:
            secretfiles.enforce(secretfiles.tls_files(config), log)
        return HttpClient(config.tls, log)

    def context(self, config: ClusterConfig) -> Context:
        """What a step needs: config, logger, HTTP client, markers and failpoints."""
        from automation.context import Context
        from automation.failpoints import Failpoints
        from automation.markers import MarkerStore

        log = self.log
        failpoints = Failpoints.from_environment(
            self.env, on_fire=lambda name, action: log.warn("Failpoint fired", failpoint=name, action=action)
        )
        markers = MarkerStore(self.state_dir, before_rename=lambda: failpoints.hit("marker.before-rename"))
        return Context(
            config=config,
            log=log,
            http=self.http_client(config, log),
            markers=markers,
            failpoints=failpoints,
            config_path=self.config_path,
            environment=self.env,
        )

    def step_context(self) -> Context:
        return self.context(self.load_config())
