"""One run of `fba`: the parsed arguments, the environment, the logger, and what a handler may ask
for (the config, a step context).

Imports of the config model, the HTTP client and the markers happen in the methods that need
them, so a command that reads no config (`--help`, `status`, `units render`) never loads
pydantic: every unit start on a slow guest pays for what it imports.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from automation.log import Logger
from automation.spec.markers import DEFAULT_STATE_DIR
from automation.spec.units import DEFAULT_CONFIG_PATH

if TYPE_CHECKING:
    from automation.context import Context
    from automation.spec.config import ClusterConfig


class Invocation:
    def __init__(self, args: argparse.Namespace, env: Mapping[str, str], out: Callable[[str], None]) -> None:
        self.args = args
        self.env = env
        self.out = out
        self.log = Logger(stream=sys.stdout)
        self.config_path: Path = getattr(args, "config", None) or Path(env.get("FBA_CONFIG", DEFAULT_CONFIG_PATH))
        self.state_dir: Path = getattr(args, "state_dir", None) or Path(
            env.get("FBA_STATE_DIR", str(DEFAULT_STATE_DIR))
        )

    def load_config(self) -> ClusterConfig:
        """The validated config; binds the node id to the logger and redacts the notify token."""
        from automation import configfile

        config = configfile.load(self.config_path, self.env)
        self.log = self.log.bind(node_id=config.node_id)
        if config.notify_token:
            self.log.redactor.add(config.notify_token)
        problem = configfile.permission_problems(self.config_path, private_key=False)
        if problem:
            self.log.warn(problem)
        return config

    def context(self, config: ClusterConfig) -> Context:
        """What a step needs: config, logger, HTTP client, markers and failpoints."""
        from automation.context import Context
        from automation.failpoints import Failpoints
        from automation.http import HttpClient
        from automation.markers import MarkerStore

        log = self.log
        failpoints = Failpoints.from_environment(
            self.env, on_fire=lambda name, action: log.warn("Failpoint fired", failpoint=name, action=action)
        )
        markers = MarkerStore(self.state_dir, before_rename=lambda: failpoints.hit("marker.before-rename"))
        return Context(
            config=config,
            log=log,
            http=HttpClient(config.tls, log),
            markers=markers,
            failpoints=failpoints,
            config_path=self.config_path,
            environment=self.env,
        )

    def step_context(self) -> Context:
        return self.context(self.load_config())
