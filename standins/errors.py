"""Errors of the stand-in services, one root.

    StandinError                  anything the stand-ins raise on purpose
    ├── ConfigError               flags, environment or cluster-config.json are unusable
    ├── RaftError                 the Raft layer refused or did not answer in time
    │   ├── NotLeader             this node is not the leader (carries the leader's API URL)
    │   ├── NoQuorum              no leader or no quorum from this node's view
    │   └── ChangeInFlight        another membership change is not committed yet
    ├── StoreError                iam could not read or write its store (flaredb over HTTP)
    └── ClientError               an HTTP call to another service failed (transport or status)

HTTP handlers turn these into status codes in one place (`standins.cluster_api`), so the
contract's 421/503 answers cannot drift from the reasons behind them.
"""

from __future__ import annotations


class StandinError(Exception):
    """Root of every error the stand-ins raise on purpose."""


class ConfigError(StandinError):
    """Flags, environment or cluster-config.json are invalid; the message names the knob."""


class RaftError(StandinError):
    """The Raft layer refused a request or did not answer within its deadline."""


class NotLeader(RaftError):
    """Asked a follower to do leader work; `leader_url` says where to go instead."""

    def __init__(self, message: str, leader_url: str | None) -> None:
        super().__init__(message)
        self.leader_url = leader_url


class NoQuorum(RaftError):
    """No leader is known or the leader cannot reach a majority."""


class ChangeInFlight(RaftError):
    """One membership change at a time: the previous one is not committed yet."""


class StoreError(StandinError):
    """iam's store (flaredb's KV over HTTP) is unreachable or answered unexpectedly."""


class ClientError(StandinError):
    """An HTTP call failed: connection refused, timeout, TLS, or an unexpected status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
