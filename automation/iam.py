"""`fba iam-setup`: ensure the cluster has its admin user and this node has a token.

Crash-safe by write-ahead: the admin password is generated and staged in the credentials
file (0600, atomic) before the create request, so a crash between "IAM created the admin" and
"we recorded it" never loses the only copy of the password. On the next run the staged
password is sent again: 201/200 means it is ours (the contract answers a replayed create 200).
A 409 means another node won the race, unless a create of ours may have taken effect before
it (any attempt that was not a definite refusal, `_may_have_taken_effect`, or a crash after
the file recorded it as sent): then the admin may be ours and its password is kept,
`unconfirmed` (break 11, H4; break 12, K10: the retry's 409 was read as "another node's" and
the only copy of the admin password erased).

A marker present with a node token near its expiry is a renewal (`_Setup.renew`): it needs
only a credential the IAM still takes, the stored node token first (break 12, K12: the one-time
bootstrap token had expired, and every boot after day 1 failed). Token times are the IAM's,
judged on its clock (the answer's Date; break 12, K3).

Secrets are registered with the logger's redactor before any request, so they cannot reach a
log line.

Write-ahead assumes one writer: the whole set-up runs under the IAM step lock
(`automation.steplock`), and a credentials file that holds an admin password this run neither
read nor wrote is never written over (a writer without the lock).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from automation import instants, jsonload, pathroles, regularfile, secretfiles
from automation.context import Context
from automation.errors import ConfigError, FbaError, MarkerError, StepFailed
from automation.health import wait_healthy
from automation.http import Response
from automation.log import Logger
from automation.markers import Ownership, link_target, probe_writable, write_atomic
from automation.markertrust import identity_for
from automation.policy import Deadline, join_policy
from automation.retry import Outcome, Try, Verdict, fetch, run
from automation.spec.causes import NOT_SENT, Cause
from automation.spec.exitcodes import ExitCode
from automation.spec.markers import Service, Step, marker_name
from automation.spec.urls import header_value_problem
from automation.steplock import step_lock

MAX_TOKEN_BYTES = 64 * 1024  # a bearer token; anything longer is not one
MAX_CREDENTIALS_BYTES = 1024 * 1024  # as the config: a small JSON object
STATUS_PENDING = "pending"  # staged, create not confirmed
STATUS_CREATED = "created"  # this node created the admin; the password is valid
STATUS_ELSEWHERE = "created-elsewhere"  # another node created it; we hold no password
STATUS_UNCONFIRMED = "unconfirmed"  # 409 after a create of ours that may have taken effect: kept
# When the staged password was first sent (null: staged, never sent). A file without the key
# comes from an fba that did not record it: its staged password may have been sent.
SENT_AT = "admin_create_sent_at"
# Whose clock judged a token dead on arrival, for its message.
IAM_CLOCK = "the IAM's clock (its Date header)"
OUR_CLOCK = "this node's clock (the answer had no readable Date header)"
CLOCKS_APART_WARN_S = 300.0  # beyond ordinary drift and a slow answer: a clock not yet synced
RENEW_WITHIN_MAX_S = 3600.0  # a stored node token closer than this to its expiry is renewed


def run_iam_setup(ctx: Context) -> ExitCode:
    log = ctx.log.bind(service=Service.IAM.value, operation="iam-setup")
    # One set-up at a time on this node, from the marker read to the marker write: two runs
    # (the unit and an operator) staged two passwords over each other, and the loser's 409
    # wrote null over the winner's (automation.steplock). The wait counts against the deadline.
    deadline = Deadline.start(ctx.config.join.deadline_s, ctx.clock)
    try:
        with step_lock(ctx.markers, Service.IAM, deadline, log) as waited:
            return _run_iam_setup_locked(ctx, log, deadline.remaining() if waited else None)
    except FbaError as err:
        log.failure(err)  # with this service and operation (`Logger.failure`)
        raise


def _run_iam_setup_locked(ctx: Context, log: Logger, budget_s: float | None) -> ExitCode:
    """`budget_s`: what is left of the deadline after waiting for the lock (None: the whole
    `join.deadline_s`, from when the IAM requests start, as before the lock)."""
    name = marker_name(Service.IAM, Step.INITIALIZED)
    state = ctx.markers.read(name)
    me = identity_for(ctx.config, Service.CHAINFIRE)
    ownership = state.ownership(me) if state.present else None
    renewal = _token_renewal(ctx) if ownership in (Ownership.OURS, Ownership.UNKNOWN) else None
    if renewal:
        # The marker records a time-limited fact (a node token) as if it were permanent: a dead
        # token was never renewed, every later run said "nothing to do" (break 10, G11). The
        # set-up is idempotent (the admin is checked against the IAM and kept): run it again.
        log.warn(f"IAM marker {name} present, but {renewal}; running IAM setup again to renew it", marker=name)
    elif ownership is Ownership.OURS:
        log.info("IAM already initialized (marker present); nothing to do", marker=name)
        return ExitCode.ALREADY_DONE
    elif ownership is Ownership.UNKNOWN:
        # Hand-written or from an fba before identities: nothing to check it against (IAM has
        # no member list), and the set-up it records holds secrets we must not re-issue blindly.
        log.warn(f"IAM marker {name} {state.written_for(me)}; trusting it", marker=name)
        return ExitCode.ALREADY_DONE
    if ownership is Ownership.FOREIGN:
        # A cloned disk: the credentials and node token on it are another node's. The set-up
        # is idempotent (an existing admin is kept), so run it again as this node.
        log.warn(f"IAM marker {name} {state.written_for(me)}; not trusted, running IAM setup as this node", marker=name)
    if state.status.value == "corrupt":
        log.warn("Marker corrupt; not trusted, running IAM setup again", marker=name, detail=state.detail)
    warning = ctx.markers.ensure_directory(name)  # before IAM is asked to change anything
    if warning:
        log.warn(warning)
    cfg = ctx.config
    _check_credentials_writable(ctx)
    token: str | None = None
    bootstrap_file = secretfiles.bootstrap_token_file(cfg)
    if renewal and not bootstrap_file.path.exists() and not bootstrap_file.path.is_symlink():
        # A one-time credential removed after day 0 is no failed boot: the node token renews
        # itself (break 12, K12); `renew` fails, naming this, when nothing else works. A file
        # that is there is read as always (one others may read is still refused, exit 3).
        log.warn(f"IAM bootstrap token not found: {bootstrap_file.path}; renewing the node token with the stored one")
    else:
        token = _bootstrap_token(bootstrap_file, log)
    if token is not None:
        log.redactor.add(token)
    base = cfg.local_api_url(Service.IAM)
    wait_healthy(
        base + cfg.endpoint(Service.IAM).health_path,
        http=ctx.http,
        cfg=cfg.health,
        deadline=Deadline.start(cfg.health.timeout_s, ctx.clock),
        log=log,
    )
    setup = _Setup(ctx, log, base, token, budget_s)
    if renewal:
        setup.renew()
    else:
        setup.ensure_admin()
        setup.issue_node_token(setup.bootstrap)
    ctx.failpoints.hit("iam.before-marker")
    ctx.markers.write(name, identity_for(cfg, Service.CHAINFIRE))
    log.info(
        "IAM initialized", marker=name, credentials=cfg.iam.credentials_path, admin_status=setup.creds["admin_status"]
    )
    return ExitCode.OK


def _renew_within_s(ctx: Context) -> float:
    """How close to its expiry a stored token is renewed: a tenth of its lifetime, at most an
    hour (a token renewed at the next boot must not die before the boot after)."""
    return min(ctx.config.iam.token_ttl_s / 10, RENEW_WITHIN_MAX_S)


def _token_renewal(ctx: Context) -> str | None:
    """Why the stored node token needs renewing (expired or about to), or None. A credentials
    file that cannot be read is left to the set-up's own reading (`_Setup._load`): None."""
    try:
        data = jsonload.loads(
            regularfile.read(Path(ctx.config.iam.credentials_path), MAX_CREDENTIALS_BYTES), source="credentials"
        )
    except (OSError, jsonload.JsonError):
        return None
    if not isinstance(data, dict):
        return None
    stored = data.get("node_token_expires_at")
    try:
        expires = instants.read(stored)
    except instants.UnreadableInstant:
        # Written by an fba that stored the IAM's text as it came (break 11, H5): whether the
        # token is dead cannot be told, and a renewal costs one request.
        return f"its stored expiry {stored!r} cannot be read"
    if expires is None:
        return None  # a token without an expiry is kept as it was
    left = (expires - datetime.now(UTC)).total_seconds()
    if left <= 0:
        return f"the node token expired at {expires.isoformat()}"
    if left < _renew_within_s(ctx):
        return f"the node token expires at {expires.isoformat()} (in {left:.0f}s)"
    return None


def _expired_at(stored: object) -> str | None:
    """The stored node token's expiry when it has passed (on this node's clock), else None: no
    expiry, one still ahead, or one that cannot be read (the IAM decides: sending it costs one
    request)."""
    try:
        expires = instants.read(stored)
    except instants.UnreadableInstant:
        return None
    if expires is None or expires > datetime.now(UTC):
        return None
    return expires.isoformat()


def _check_credentials_writable(ctx: Context) -> None:
    """Prove the credentials file can be written where it goes (through a symlink, to its
    target: `link_target`) before IAM is asked for anything: the admin password is staged
    there before the admin is created, and a run that cannot stage it must not create one.

    Raises:
        MarkerError: a dangling or looping link, or a directory that cannot be created or
            written, or a file that is another role's too (`automation.pathroles`: a marker
            written later would replace the password); cause `state not written`, nothing sent.
    """
    path = Path(ctx.config.iam.credentials_path)
    pathroles.refuse_write(ctx.config, "iam.credentials_path", ctx.config_path, ctx.markers.directory)
    try:
        target = link_target(path)
    except OSError as err:
        raise MarkerError(f"cannot write the IAM credentials file {path}: {err.strerror}") from None
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise MarkerError(f"cannot create {target.parent} for the IAM credentials: {err.strerror}") from None
    probe_writable(target.parent, "the IAM credentials directory")


def _bootstrap_token(file: secretfiles.SecretFile, log: Logger) -> str:
    path = file.path
    secretfiles.enforce([file], log)
    try:
        # A regular file of bounded size only: a FIFO would hang the step, a device never end.
        token = regularfile.read(path, MAX_TOKEN_BYTES).decode("utf-8").strip()
    except FileNotFoundError:
        raise ConfigError(f"IAM bootstrap token not found: {path}") from None
    except OSError as err:
        raise ConfigError(f"IAM bootstrap token unreadable: {path}: {regularfile.describe(err)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"IAM bootstrap token unreadable: {path}: not UTF-8 text") from None
    if not token:
        raise ConfigError(f"IAM bootstrap token is empty: {path}")
    problem = header_value_problem(token)
    if problem is not None:
        # Refused before any request: sent, it would be cut at the line break (or refused by
        # http.client with the whole token in the message).
        raise ConfigError(
            f"IAM bootstrap token in {path} cannot be sent as a bearer token: {problem} (more than one line?)"
        )
    return token


def _admin_names(reply: Response) -> list[str]:
    """The admin names a `GET /users?role=admin` answer lists: the users whose own `role` is
    `admin`. The filter in the URL is only a request: an IAM (or a proxy) that ignores it
    answers every user, and a plain user counted as an admin left the cluster with none (break
    10, G13). An answer that is not such a list (HTML from a proxy, a JSON array, `users` null,
    a number or a string, users without a string `name` or `role`) is a bad response: read as
    "no admin yet", it made this node create a second admin next to one it could not see
    (kind E: a list we cannot read is not a list that lacks us)."""
    body = reply.json()
    users = body.get("users") if isinstance(body, dict) else None
    valid = isinstance(users, list) and all(
        isinstance(u, dict) and isinstance(u.get("name"), str) and isinstance(u.get("role"), str) for u in users
    )
    if not valid or not isinstance(users, list):
        raise StepFailed(
            f'IAM admin list unreadable (expected {{"users": [{{"name": ..., "role": ...}}, ...]}}): '
            f"HTTP {reply.status} from GET {reply.url}: {reply.excerpt(80)}",
            cause=Cause.BAD_RESPONSE,
        )
    return [str(u["name"]) for u in users if u["role"] == "admin"]


def _may_have_taken_effect(outcome: Outcome[Response]) -> bool:
    """Whether a request that did not end its call may have taken effect at the IAM all the same.

    Only a definite refusal took nothing: a request that never left (`NOT_SENT`: refused, not
    resolved, not connected, no verified TLS session) or a whole answer with a 4xx (the IAM or
    a proxy read it and said "not done": 400, 401, 429, ...). Everything else came after the
    request reached the IAM: a timeout or reset after sending, a 5xx (a proxy's 502 after the
    commit), an answer too large to read, an interim 1xx, a 3xx or a 2xx the call does not
    expect (`MAYBE_DELIVERED` and the unexpected answers). Only timeouts, resets and 5xx counted
    (break 11, H4), and a committed create answered 103 + 201 or with a 201 over 1 MiB had its
    retry's 409 read as another node's, erasing the password it held (break 12, K10)."""
    if outcome.cause in NOT_SENT:
        return False
    code = outcome.http_code or 0
    if 400 <= code < 500:
        return False
    # Any other transport failure is in MAYBE_DELIVERED; one not listed there (a cause added
    # later) counts as delivered too: a password kept for nothing costs nothing.
    return True


class _Refused(StepFailed):
    """The IAM refused the credential a request carried (401, 403): on a renewal another one may
    still work, so nothing is logged yet; whoever gives up says why."""


REFUSED_CREDENTIAL = (401, 403)


class _Setup:
    def __init__(self, ctx: Context, log: Logger, base: str, token: str | None, budget_s: float | None) -> None:
        self.ctx = ctx
        self.log = log
        self.base = base
        self.bootstrap = token  # None: a renewal whose bootstrap token file is gone
        self.path = Path(ctx.config.iam.credentials_path)
        self.deadline = Deadline.start(ctx.config.join.deadline_s if budget_s is None else budget_s, ctx.clock)
        self.creds = self._load()
        # The admin password the file held when this run last read or wrote it: a file that
        # holds another one was changed by someone else since, and is never written over.
        self.on_disk_password: object = self.creds.get("admin_password")
        # Whether an earlier run may have sent the staged password to the IAM (a create whose
        # answer it never recorded): a 409 then may be our own admin's.
        self.sent_before = (
            self.creds.get("admin_status") in (STATUS_PENDING, STATUS_UNCONFIRMED)
            and isinstance(self.creds.get("admin_password"), str)
            and (SENT_AT not in self.creds or self.creds[SENT_AT] is not None)
        )

    def _load(self) -> dict[str, Any]:
        """The staged credentials. A file we cannot read or parse is an error, never replaced:
        it may hold the only copy of the admin password (write-ahead, see above)."""
        admin = self.ctx.config.iam.admin_user
        secretfiles.enforce([secretfiles.credentials_file(self.ctx.config)], self.log)
        try:
            data = jsonload.loads(regularfile.read(self.path, MAX_CREDENTIALS_BYTES), source=str(self.path))
        except FileNotFoundError:
            data = None
        except OSError as err:
            # Not replaced either (a FIFO, a directory, too large, unreadable): refused as it is.
            raise ConfigError(f"IAM credentials file unreadable: {self.path}: {regularfile.describe(err)}") from err
        except jsonload.JsonError as err:
            raise ConfigError(
                f"IAM credentials file is not valid JSON: {err.message}; fix it or move it away "
                "(it may hold the only copy of the admin password)"
            ) from err
        if data is None:
            return {"admin_user": admin, "admin_password": None, "admin_status": STATUS_PENDING}
        # Valid JSON that is not our shape is refused like unparsable JSON, never replaced: the
        # file (or another admin's entry in it) may hold the only copy of a password.
        if not isinstance(data, dict):
            raise ConfigError(
                f"IAM credentials file {self.path} holds JSON {type(data).__name__}, not an object; "
                "fix it or move it away (it may hold the only copy of the admin password)"
            )
        wrong = [
            k for k in ("admin_user", "admin_password", "node_token") if not isinstance(data.get(k), (str, type(None)))
        ]
        if wrong:
            raise ConfigError(
                f"IAM credentials file {self.path}: {', '.join(wrong)} not text; fix it or move it away "
                "(it may hold the only copy of the admin password)"
            )
        if data.get("admin_user") != admin:
            raise ConfigError(
                f"IAM credentials file {self.path} is for admin user {data.get('admin_user')!r}, the config names "
                f"{admin!r}; move it away to set up {admin!r} (it may hold the only copy of the other's password)"
            )
        for key in ("admin_password", "node_token"):
            if isinstance(data.get(key), str):
                self.log.redactor.add(data[key])
        return data

    def _save(self) -> None:
        self.creds["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.creds["iam_url"] = self.base
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:  # as write_atomic's own failures: one line, exit 1, never a traceback
            raise MarkerError(f"cannot create {self.path.parent} for the IAM credentials: {err.strerror}") from None
        self._refuse_if_changed()
        # Where the write happens: a link made since the start must not lead it onto another
        # role's file (a marker, the config, the textfile; `automation.pathroles`).
        pathroles.refuse_write(
            self.ctx.config, "iam.credentials_path", self.ctx.config_path, self.ctx.markers.directory
        )
        data = (json.dumps(self.creds, indent=2) + "\n").encode("utf-8")
        write_atomic(self.path, data, mode=0o600, follow_link=True)  # a link into /persist stays one
        self.on_disk_password = self.creds.get("admin_password")

    def _refuse_if_changed(self) -> None:
        """Raise unless the file still holds the admin password this run read or wrote.

        The step lock keeps two fba runs apart; this holds against anything else that writes the
        file (an fba without the lock, an operator restoring a backup): a run that does not know
        the password in the file must not replace it, with null or with a password of its own.

        Raises:
            MarkerError: the file changed under us (or cannot be read back); it is kept.
        """
        keep = "kept as it is (it may hold the only copy of the admin password); run iam-setup again"
        try:
            data = jsonload.loads(regularfile.read(self.path, MAX_CREDENTIALS_BYTES), source=str(self.path))
        except FileNotFoundError:
            data = {}
        except (OSError, jsonload.JsonError) as err:
            detail = regularfile.describe(err) if isinstance(err, OSError) else err.message
            raise MarkerError(f"IAM credentials file {self.path} cannot be read back ({detail}); {keep}") from None
        password = data.get("admin_password") if isinstance(data, dict) else None
        if isinstance(password, str) and password != self.on_disk_password:
            self.log.redactor.add(password)
            raise MarkerError(f"IAM credentials file {self.path} was changed by another writer during this run; {keep}")

    def renew(self) -> None:
        """Renew the node token with whatever the IAM still accepts (break 12, K12).

        The bootstrap token is a one-time credential (kubeadm's expire after 24 h): a renewal
        that re-ran the whole set-up with it failed every boot past day 1 on a node that was set
        up. The contract accepts the node's own token for `POST /tokens` (standins/openapi.yaml,
        `bearer`), as a kubelet rotates its certificate with its current one. So: the admin is
        checked with the bootstrap token while the IAM takes it (skipped, with a WARN, once it
        does not); the token is renewed with the stored node token while it is alive, else with
        the bootstrap token; when the IAM takes neither, one ERROR says so and what to do.

        Raises:
            StepFailed: cause `rejected`, naming what each credential got; nothing stored changed.
        """
        path = self.ctx.config.iam.bootstrap_token_path
        refusals: list[str] = []
        bootstrap = self.bootstrap
        if bootstrap is None:
            refusals.append(f"the bootstrap token: not found at {path}")
        else:
            try:
                self.ensure_admin(refusable=True)
            except _Refused as err:
                refusals.append(f"the bootstrap token: {err.message}")
                self.log.warn(
                    f"IAM refused the bootstrap token ({err.message}); the admin check is skipped on this "
                    "renewal (the node was set up before); renewing the node token with what else it holds"
                )
                bootstrap = None
        candidates: list[tuple[str, str]] = []
        stored = self.creds.get("node_token")
        dead = _expired_at(self.creds.get("node_token_expires_at"))
        if isinstance(stored, str) and stored and dead is None:
            candidates.append(("the stored node token", stored))
        if bootstrap is not None:
            candidates.append(("the bootstrap token", bootstrap))
        if isinstance(stored, str) and stored and dead is not None:
            # Dead on our clock, maybe not on the IAM's, which decides (break 12, K3: a clock
            # a day ahead before NTP); offered last, after what should still work.
            candidates.append((f"the stored node token (expired at {dead} on this node's clock)", stored))
        elif not (isinstance(stored, str) and stored):
            refusals.append(f"the stored node token: none in {self.path}")
        for index, (name, credential) in enumerate(candidates):
            try:
                self.issue_node_token(credential, refusable=True)
                return
            except _Refused as err:
                refusals.append(f"{name}: {err.message}")
                if index + 1 < len(candidates):
                    self.log.warn(f"IAM refused {name} ({err.message}); renewing with {candidates[index + 1][0]}")
        raise StepFailed(
            f"cannot renew the node token: the IAM at {self.base} accepts nothing this node holds "
            f"({'; '.join(refusals)}); put a new bootstrap token in {path} and run iam-setup again",
            cause=Cause.REJECTED,
        )

    def ensure_admin(self, *, refusable: bool = False) -> None:
        """Make sure the IAM has the admin, asking the IAM every time. The credentials file's
        `admin_status` is this node's memory, not the cluster's state: a file that survived a
        rebuild (or came with a cloned disk) said `created` and the check was skipped, exit 0
        with no admin in the IAM (break 10, G12)."""
        names = self._admins(refusable=refusable)
        user = self.creds["admin_user"]
        status = self.creds.get("admin_status")
        if user in names and status in (STATUS_CREATED, STATUS_ELSEWHERE, STATUS_UNCONFIRMED):
            return
        if names and user not in names:
            if status in (STATUS_CREATED, STATUS_UNCONFIRMED):
                # Our admin is gone and another one exists: the file is not this IAM's (another
                # cluster's, an earlier install's). Its password is kept: it is not ours to drop.
                how = "was" if status == STATUS_CREATED else "may have been"
                raise StepFailed(
                    f"IAM credentials file {self.path} says admin {user!r} {how} created by this node, but the "
                    f"IAM at {self.base} has admins {names} and not {user!r}; the file is from another cluster "
                    "or an earlier install: move it away and run iam-setup again",
                    cause=Cause.UNEXPECTED_ANSWER,
                )
            if status != STATUS_ELSEWHERE:
                self.log.info("Cluster already has an admin user; not creating another", admins=names)
                self.creds.update(admin_password=None, admin_status=STATUS_ELSEWHERE)
                self._save()
            return
        if not names and status in (STATUS_CREATED, STATUS_ELSEWHERE, STATUS_UNCONFIRMED):
            self.log.warn(
                f"IAM credentials file says admin_status {status!r}, but the IAM lists no admin; creating it",
                user=user,
                file_iam_url=self.creds.get("iam_url"),
            )
            self.creds["admin_status"] = STATUS_PENDING  # `created` again only once the IAM says so
        if not self.creds.get("admin_password"):
            password = secrets.token_urlsafe(24)
            self.log.redactor.add(password)
            self.creds.update(admin_password=password, **{SENT_AT: None})
            self._save()
        self.ctx.failpoints.hit("iam.before-create")
        if self.creds.get(SENT_AT) is None:
            # Recorded before the request leaves: a crash after it (the IAM's 201 never
            # recorded) tells the next run that a 409 may be its own admin's.
            self.creds[SENT_AT] = datetime.now(UTC).isoformat(timespec="seconds")
            self._save()
        body = {"name": user, "role": "admin", "password": self.creds["admin_password"]}
        lost: list[str] = []
        reply = self._call(
            "POST", "/users", body, accept=(200, 201, 409), what="create admin user", lost=lost, refusable=refusable
        )
        if reply.status == 409 and not lost and not self.sent_before:
            # A 409 to the only create ever sent with this password: the IAM took nothing of
            # ours. Recorded before anything can stop this run, so that the next one does not
            # take another node's admin for maybe ours (a racer that lost and crashed).
            self.creds[SENT_AT] = None
            self._save()
        self.ctx.failpoints.hit("iam.after-admin-create")
        if reply.status == 409:
            # "user exists" is only the name: believed to be another node's admin once the IAM
            # lists it as an admin (a plain user named `admin` answers 409 too: break 10, G13).
            if user not in self._admins(refusable=refusable):
                raise StepFailed(
                    f"IAM answered HTTP 409 to creating admin {user!r}, but lists no admin of that name: the name "
                    f"is taken by a user that is not an admin ({reply.excerpt(80)}); rename that user or set "
                    "iam.admin_user",
                    cause=Cause.UNEXPECTED_ANSWER,
                )
            if self.sent_before:
                lost.insert(0, "an earlier run sent this password and recorded no answer")
            if lost:
                self._unconfirmed(lost)
                return
            self._created_elsewhere(f"Admin user {user!r} already exists (HTTP 409): created by another node")
            return
        self.log.info("Admin user created", user=user, http_code=reply.status)
        self.creds["admin_status"] = STATUS_CREATED
        self._save()

    def _admins(self, *, refusable: bool = False) -> list[str]:
        reply = self._call(
            "GET", "/users?role=admin", None, accept=(200,), what="list admin users", refusable=refusable
        )
        return _admin_names(reply)

    def _unconfirmed(self, lost: list[str]) -> None:
        """A 409 after a create of ours that may have taken effect: the admin may be ours, and
        the password we sent may be its only copy. The IAM contract has no way to check a
        password (a replayed create answers 200, and this IAM did not), so it is kept and
        marked `unconfirmed`, never dropped: a kept password that turns out to be wrong costs
        nothing, an erased one that was right locks the cluster's only admin out."""
        user = self.creds["admin_user"]
        self.log.warn(
            f"IAM answered HTTP 409 to creating admin {user!r} after a create of ours that may have taken effect "
            f"({'; '.join(lost)}): the admin may be this node's. Its password is kept in {self.path} with "
            f"admin_status {STATUS_UNCONFIRMED!r}; log in as {user!r} with it to confirm (if that fails, another "
            "node created the admin)",
            user=user,
        )
        self.creds["admin_status"] = STATUS_UNCONFIRMED
        self._save()

    def _created_elsewhere(self, message: str) -> None:
        self.log.info(message, user=self.creds["admin_user"])
        self.creds.update(admin_password=None, admin_status=STATUS_ELSEWHERE)
        self._save()

    def issue_node_token(self, credential: str | None, *, refusable: bool = False) -> None:
        """Ask for a node token with `credential` (the bootstrap token, or on a renewal the
        stored node token) and store it."""
        subject = f"node:{self.ctx.config.node_id}"
        body = {"subject": subject, "ttl_s": self.ctx.config.iam.token_ttl_s}
        reply = self._call(
            "POST",
            "/tokens",
            body,
            accept=(200, 201),
            what="issue node token",
            credential=credential,
            refusable=refusable,
        )
        data = reply.json_object()
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise StepFailed(f"IAM token response has no token: {reply.excerpt(80)}", cause=Cause.BAD_RESPONSE)
        self.log.redactor.add(token)
        expires = self._token_expiry(data.get("expires_at"), reply)
        now, whose = self._iam_now(reply)
        if expires is not None and expires <= now:
            # Dead on arrival (the IAM clamps the TTL, or without a Date our clock is off): exit 0
            # would say "node token stored" for a token nothing can use (break 10, G11).
            raise StepFailed(
                f"IAM issued a node token that is already expired (expires_at {data.get('expires_at')!r}, "
                f"now {now.isoformat(timespec='seconds')} on {whose})"
                + ("" if whose == IAM_CLOCK else ": check the clocks of this node and the IAM"),
                cause=Cause.BAD_RESPONSE,
            )
        self.ctx.failpoints.hit("iam.after-token")
        # Stored as ISO-8601, whatever shape the IAM wrote: one form for every later reader.
        stored = expires.isoformat() if expires is not None else None
        self.creds.update(node_token=token, node_token_subject=subject, node_token_expires_at=stored)
        self._save()
        self.log.info("Node token issued", subject=subject, expires_at=stored)

    def _iam_now(self, reply: Response) -> tuple[datetime, str]:
        """The time `reply` was answered on the IAM's clock (its `Date` header, RFC 9110 6.6.1),
        and whose clock that is; ours only without a readable Date.

        `expires_at` is the IAM's time: judged against our clock, a node whose clock was a day
        ahead before NTP stepped it (G10's premise) called a fresh 24 h token "expired an hour
        ago", `bad response`, and threw one away on every start (break 12, K3), as a Retry-After
        date was misjudged before it was counted from the same answer's Date (break 10, G10)."""
        ours = datetime.now(UTC)
        text = reply.headers.get("date")
        try:
            # An HTTP date is RFC 1123's form, which `instants` reads; a zone-less one is GMT too.
            said = instants.read(text.strip()) if isinstance(text, str) and text.strip() else None
        except instants.UnreadableInstant:
            said = None
        if said is None:
            return ours, OUR_CLOCK
        apart = (said - ours).total_seconds()
        if abs(apart) > CLOCKS_APART_WARN_S:
            side = "ahead" if apart > 0 else "behind"
            self.log.warn(
                f"This node's clock and the IAM's differ by {abs(apart):.0f}s (the IAM {side}, by its Date "
                "header): the node token's life is judged on the IAM's clock; fix the clock that is wrong (a node "
                "before NTP: enable systemd-time-wait-sync.service, the units order after time-sync.target)",
                iam_date=said.isoformat(timespec="seconds"),
                node_time=ours.isoformat(timespec="seconds"),
            )
        return said, IAM_CLOCK

    @staticmethod
    def _token_expiry(value: object, reply: Response) -> datetime | None:
        """The token's `expires_at` (None: the IAM gave none). A value that is there but not a
        time is no "no expiry": it was read so, and a dead token was stored (break 11, H5).

        Raises:
            StepFailed: cause `bad response`, naming the value; nothing stored.
        """
        try:
            return instants.read(value)
        except instants.UnreadableInstant as err:
            shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
            raise StepFailed(
                f"IAM token response has an expires_at that is not a time ({err}): {shown} in HTTP "
                f"{reply.status} from POST {reply.url}; expected ISO-8601 (or Unix seconds, Go's or RFC 1123's form)",
                cause=Cause.BAD_RESPONSE,
            ) from None

    def _call(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        accept: tuple[int, ...],
        what: str,
        lost: list[str] | None = None,
        credential: str | None = None,
        refusable: bool = False,
    ) -> Response:
        """One IAM request through the shared engine: "later" answers wait (Retry-After),
        a 4xx that means "never" (401 expired token, 403) ends the setup quoting the answer.

        `lost`: gets what each request that did not end the call said when it may have taken
        effect all the same (`_may_have_taken_effect`: anything but a definite refusal).
        `credential`: the bearer token sent (default: the bootstrap token). `refusable`: a 401 or
        403 raises `_Refused`, unlogged, for the caller to try another credential."""
        url = self.base + path
        token = credential if credential is not None else self.bootstrap
        if token is None:  # pragma: no cover - `renew` sends nothing without a credential
            raise AssertionError(f"IAM {what}: no credential to send")
        headers = {"Authorization": f"Bearer {token}"}

        def step(t: Try) -> Outcome[Response]:
            outcome = fetch(
                self.ctx.http,
                method,
                url,
                t,
                clock=self.ctx.clock,
                expect=accept,
                body=body,
                headers=headers,
            )
            if refusable and outcome.verdict is Verdict.PERMANENT and outcome.http_code in REFUSED_CREDENTIAL:
                # Out of the engine unlogged (it retries only its own `_Again`): the caller
                # tries another credential, or says why none worked.
                raise _Refused(f"{what}: {outcome.said}", cause=outcome.cause) from outcome.error
            if outcome.verdict is Verdict.ATTEMPT:
                self.log.warn(f"IAM {what} failed; retrying", attempt=t.attempt, cause=outcome.cause.value)
            code = outcome.http_code or 0
            if lost is not None and outcome.verdict is not Verdict.DONE and _may_have_taken_effect(outcome):
                lost.append(f"request {t.number}: {outcome.cause.value}" + (f", HTTP {code}" if code else ""))
            return outcome

        return run(
            step,
            policy=join_policy(self.ctx.config.join, name="iam"),
            deadline=self.deadline,
            log=self.log,
            what=f"IAM setup: {what}",
        )
