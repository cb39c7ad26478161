"""Named crash points of the node automation, as data.

Arm them with `FBA_FAILPOINTS="join.after-add=crash,iam.after-admin-create=panic"` (in the
unit's environment or the optional EnvironmentFile). Each armed point fires at most once per
boot: before firing it is recorded in `FBA_FAILPOINTS_FIRED` (default under /run, a tmpfs), so
a unit restarted by systemd after the crash runs through and the node can converge. If that
record cannot be written the point does not fire (a crash loop is worse than a missed test).

Actions: `crash` (SIGKILL this process: no cleanup, like power loss for the process),
`panic` (crash the machine via /proc/sysrq-trigger; falls back to `crash`), `exit:N`,
`sleep:S` (bounded, at most 3600 s).
"""

from __future__ import annotations

FAILPOINTS: dict[str, str] = {
    "join.before-request": "join mode: local service healthy, member-add request not yet sent",
    "join.after-add": "the leader answered 201 to member add; membership not yet verified, no marker",
    "join.after-verify": "this node is listed by the leader; the marker is not yet written",
    "leave.before-delete": "leave of this node: its markers set aside, the DELETE not yet sent",
    "leave.after-delete": "the leader answered the DELETE; removal not yet confirmed, markers still set aside",
    "marker.before-rename": "marker content written and fsynced to a temp file, not yet renamed",
    "iam.before-create": "admin password staged in the credentials file; admin create not yet sent",
    "iam.after-admin-create": "IAM answered the admin create (a 201 not yet recorded as ours; a racer's 409, "
    "recorded as not ours first)",
    "iam.after-token": "node token issued; credentials file not yet updated with it",
    "iam.before-marker": "credentials file complete; .iam-initialized not yet written",
}

ACTIONS: tuple[str, ...] = ("crash", "panic", "exit", "sleep")
DEFAULT_FIRED_FILE = "/run/first-boot-automation/failpoints.fired"
