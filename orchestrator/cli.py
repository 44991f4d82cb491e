"""The three commands of docs/usage.md: flags, exit codes, JSON documents.

Exit codes: 0 converged / in sync / nothing left; 1 error (one line on stderr, no traceback);
2 with --plan: changes pending.
"""
from __future__ import annotations

import gc
import os
import sys
import tempfile

from orchestrator.commands import (
    EXIT_CHANGES, EXIT_ERROR, EXIT_OK, STATE_HELP, Parser, as_role, one_line, region_of, state_backend,
)
from orchestrator.errors import UserError

LOG_FORMAT_ENV = "VIDEO_PIPELINE_LOG_FORMAT"
# The services the stack's handlers call, roughly in the order a walk first needs them.
STACK_SERVICES = ("sts", "ec2", "secretsmanager", "iam", "logs", "rds", "elasticache", "efs", "elbv2", "ecs",
                  "apigateway", "resourcegroupstaggingapi", "kms", "wafv2")


def start_up_over() -> None:
    """Called once the clients are built. bin/ starts with the garbage collector off
    (bin/_entry.py): start-up builds about a million objects that live as long as the process
    (modules, the service models, the clients), and the collections during start-up walked
    them, 60 ms of a half-second no-op. They are frozen out of the collector's sight now and
    collection resumes, so a long run's garbage is still collected. A process that never turned
    the collector off (a test's) is left as it is."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def build_parser(command: str) -> Parser:
    # allow_abbrev=False: a flag is never guessed from a prefix (`--state-d` once became `--state-dir`).
    p = Parser(prog=f"bin/{command}", description=DESCRIPTIONS[command], allow_abbrev=False)
    if command == "drift":
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("--env", help="environment name: lowercase DNS label, at most 20 characters")
        which.add_argument("--all", action="store_true",
                           help="every environment with state at the location (each in its region, as its role) "
                                "and those the ownership tags show, one report")
    else:
        p.add_argument("--env", required=True, help="environment name: lowercase DNS label, at most 20 characters")
    if command == "reconcile":
        p.add_argument("--plan", action="store_true", help="show what would change; make no mutating AWS call")
        p.add_argument("--out", metavar="FILE",
                       help="with --plan: save the plan to FILE (no secret in it), for --apply FILE to apply exactly")
        p.add_argument("--apply", metavar="FILE",
                       help="apply exactly the plan saved in FILE, with the configuration and consents it was made "
                            "with; if anything moved since (the state, a resource changed by hand), change nothing "
                            "and exit 1")
        p.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
        p.add_argument("--sandbox", action="store_true", help="run against an embedded moto server on loopback")
        p.add_argument(
            "--redeploy", action="append", default=[], metavar="SERVICE",
            help="deploy this ECS service again on its current revision (an image pushed again under the same "
                 "tag; a deployment that failed); a node key (ecs.service.api) or the service's name; repeatable",
        )
        p.add_argument(
            "--allow-replace", action="append", default=[], metavar="RESOURCE",
            help="consent to replace this resource (a node key such as vpc, or its name) where the plan says a change "
                 "cannot be made in place and data would be lost; the plan spells the loss out; repeatable",
        )
        p.add_argument(
            "--rotate", action="append", default=[], metavar="SECRET",
            help="rotate this secret now, without downtime (docs/configuration.md, \"Secret rotation\"): a node key "
                 "(secret.redis_auth) or the secret's name; repeatable",
        )
        p.add_argument(
            "--sandbox-speed", type=float, metavar="FACTOR", default=None,
            help="with --sandbox: take AWS's real durations (RDS ~14 min, ElastiCache ~8 min, NAT ~2 min, ECS "
                 "deployments ~2 min), FACTOR times faster (60: an RDS create takes 14 s); default: everything instant",
        )
    if command == "drift":
        p.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
        p.add_argument("--notify-command", metavar="CMD", help="on drift, run CMD (shell) with the JSON report on stdin")
        p.add_argument("--notify-webhook", metavar="URL",
                       help="on drift, POST the JSON report to URL (https://); better given as "
                            "VIDEO_PIPELINE_NOTIFY_WEBHOOK, which keeps its token out of the process list")
        p.add_argument("--new-only", action="store_true",
                       help="alert on what is new since the last --new-only check (kept beside the state): exit 2 "
                            "and notify only when something new drifted; the report still lists everything")
    if command == "teardown":
        p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        p.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    if command in ("reconcile", "teardown"):
        p.add_argument(
            "--break-lock", nargs="?", const="", default=None, metavar="PID@HOST",
            help="take over the state lock when its recorded holder is gone: a dead pid on this host, "
                 "or the holder named PID@HOST on another host",
        )
    p.add_argument("--lock-timeout", default="0", metavar="DURATION",
                   help=LOCK_TIMEOUT_HELP["drift" if command == "drift" else "locking"])
    p.add_argument("--json", action="store_true", help="print exactly one JSON document on stdout")
    p.add_argument("--state", "--state-dir", dest="state", metavar="URL", help=STATE_HELP)
    p.add_argument("--region", help="AWS region (default: $AWS_REGION or $AWS_DEFAULT_REGION)")
    p.add_argument("--parallelism", type=int, default=16, metavar="N", help="resources worked on at once (default 16)")
    p.add_argument(
        "--log-format", choices=("console", "json"), default=os.environ.get(LOG_FORMAT_ENV, "console"),
        help=f"stderr log format (default: ${LOG_FORMAT_ENV} or console)",
    )
    return p


CONFIG_HELP = ("TOML file with per-environment settings: what the environment should become "
               "(default: the configuration it was last reconciled with, kept in its state; a live environment "
               "whose state records none is left unchanged until one is given)")

LOCK_TIMEOUT_HELP = {
    "locking": "wait up to DURATION (30s, 5m, 1h, or seconds) for the state lock when another run holds it "
               "(default 0: refuse at once)",
    # Accepted so that a CI job can pass one set of flags to every command.
    "drift": "accepted like reconcile's and teardown's (30s, 5m, 1h, or seconds); drift is read-only and takes "
             "no state lock, so it never waits",
}

DESCRIPTIONS = {
    "drift": "Compare live AWS with the desired state of an environment; change nothing.",
    "reconcile": "Converge an environment of the video pipeline stack to its desired state.",
    "teardown": "Delete everything an environment owns, found by state and by ownership tags.",
}


# The commands that parse their own command line: bin/state, bin/policy.
OWN_PARSERS = {"state": "orchestrator.state_cli", "policy": "orchestrator.policy"}


def main(command: str, argv: list[str] | None = None) -> int:
    _stop_on_sigterm()
    if command in OWN_PARSERS:
        import importlib

        return importlib.import_module(OWN_PARSERS[command]).main(argv)
    try:
        args = build_parser(command).parse_args(_env_value_attached(sys.argv[1:] if argv is None else argv))
        args.command = command
        from orchestrator.names import validate_env

        if args.env is not None:
            validate_env(args.env)
        if args.parallelism < 1:
            raise UserError(f"bin/{command}: --parallelism must be at least 1")
        from orchestrator.lock_wait import parse_duration

        args.lock_timeout = parse_duration(args.lock_timeout)
        if command == "drift":
            from orchestrator.notify import webhook_url

            args.notify_webhook = webhook_url(args.notify_webhook, os.environ)
        from orchestrator.config import ChosenConfig, load_config
        from orchestrator.stack import node_keys

        # Checked here, before any AWS call; without --config the state says (choose_config).
        if getattr(args, "all", False) and args.config:
            raise UserError(f"bin/{command}: --config names what one environment should become; with --all each "
                            "environment is judged against the configuration recorded in its state")
        args.given = ChosenConfig(load_config(args.config, args.env, node_keys()), "file", args.config) if args.config else None
        from orchestrator import saved_plan

        saved_plan.prepare(args)  # reconcile's --out and --apply; a saved plan's configuration becomes args.given
        from orchestrator import logs

        logs.configure(args.log_format)
        if command == "reconcile" and args.sandbox_speed is not None:
            if not args.sandbox:
                raise UserError("bin/reconcile: --sandbox-speed needs --sandbox")
            if not args.sandbox_speed > 0 or args.sandbox_speed == float("inf"):
                raise UserError(f"bin/reconcile: --sandbox-speed must be a positive number, not {args.sandbox_speed:g}")
        if command == "reconcile" and args.sandbox:
            return run_sandbox(args)
        return COMMANDS[command](args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - every error ends as one line, never a traceback
        # A configuration with several bad values: one line for each.
        for line in getattr(exc, "lines", None) or [one_line(exc)]:
            print(f"error: {' '.join(str(line).split())}", file=sys.stderr)
        return EXIT_ERROR


def _stop_on_sigterm() -> None:
    """SIGTERM (a service manager, a CI job cancelled) stops a run as Ctrl-C does: the walk is
    left where it is, the lock released, one line printed; what was asked is already recorded.
    SIGINT too, also when the shell that started the run left it ignored (a job a script started
    with `&`: Python then keeps SIGINT ignored, and a run told to stop would go on to the end)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _env_value_attached(argv: list[str]) -> list[str]:
    # "--env -dev" would otherwise read as an unknown flag; the name check gives the better answer.
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--env" and i + 1 < len(argv):
            out.append(f"--env={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def open_backend(args, env: str | None = ""):
    """Region, credentials and the environment's state backend; nothing is changed yet. With
    ``env=None`` (drift --all) only the client factory, the backend being per environment."""
    from resources.aws import Aws
    from state import default_state_dir, resolve_location

    location = resolve_location(args.state, default_state_dir())  # a bad URL: one line, no AWS call
    region = region_of(args)
    aws = Aws(region)
    _check_region_exists(aws)  # before prewarm's thread shares the session
    if env is None:
        aws.prewarm(STACK_SERVICES, then=start_up_over)
        if location.is_s3:
            from orchestrator.commands import state_s3
            from state import check_bucket

            check_bucket(state_s3(region, aws.account_id()), location.bucket, location.prefix)
        return aws, None
    # The environment's role: --config's, else the one its state records (read with the
    # credentials as they are: the state location is not the environment's account's). The
    # bucket is the caller's: every state call names the caller's account as its owner.
    caller = aws.account_id() if location.is_s3 else None
    backend = None if args.given else state_backend(location, args.env, region, None, owner=caller)
    cfg = args.given.cfg if args.given else _recorded_config(backend.load(), args.env)
    if cfg.role_arn:
        aws = as_role(aws, cfg.role_arn, args.command, args.env)
    aws.prewarm(STACK_SERVICES, then=start_up_over)
    account = aws.account_id()  # proves the credentials before anything else happens
    _require_account(args, account)
    _require_admins(args, location, cfg)
    if backend is None:
        return aws, state_backend(location, args.env, region, account, owner=caller)
    backend.account = account  # from now on the state must be this account's
    return aws, backend


def _recorded_config(doc, env: str):
    from orchestrator.config import choose_config
    from orchestrator.stack import node_keys

    return choose_config(None, doc, env, node_keys()).cfg


def _require_admins(args, location, cfg) -> None:
    """A shared state (s3://) means a team: several principals run the tool, and the secret
    policies must name who administers them rather than the account as a whole."""
    if args.command == "reconcile" and location.is_s3 and not (cfg.secret_admin_principals or cfg.role_arn):
        raise UserError(f"environment {args.env} keeps its state at {location.url}, shared by a team: set "
                        "secret_admin_principals (or role_arn) in its configuration, the principals that may read "
                        "its secrets; nothing was changed")


def _require_account(args, account: str) -> None:
    """The account the configuration names for the environment (``account_id``), checked against
    the credentials' before any call but STS's: a run with another account's credentials (a
    profile left set, the wrong CI secret) would otherwise build a second copy there."""
    wanted = args.given.cfg.account_id if args.given else ""
    # --sandbox runs on an embedded emulator with fake credentials: no account of anyone's to guard.
    if wanted and wanted != account and not getattr(args, "sandbox", False):
        named_in = args.config or getattr(args, "apply", None)  # --config, or the saved plan's configuration
        raise UserError(f"environment {args.env} belongs to AWS account {wanted} (account_id in {named_in}), "
                        f"but these credentials are for account {account}; nothing was changed")


def _check_region_exists(aws) -> None:
    """A well-formed region name botocore does not know (a typo such as xx-east-1, or a region
    newer than botocore): one read there, with one retry, tells. No such endpoint answers with a
    connection error (after minutes of retries) or an emulator's HTML error page; either becomes one
    line. A region botocore knows costs no call."""
    import botocore.config
    from botocore.exceptions import EndpointConnectionError
    from botocore.parsers import ResponseParserError

    from orchestrator.names import known_regions, unknown_region

    if aws.region in known_regions():
        return
    config = botocore.config.Config(region_name=aws.region, retries={"mode": "standard", "total_max_attempts": 2})
    try:
        aws.session.create_client("ec2", region_name=aws.region, config=config).describe_availability_zones()
    except (EndpointConnectionError, ResponseParserError):
        raise unknown_region(aws.region, "no AWS endpoint answers for it") from None


def _locked(args, backend):
    """The state lock, waited for up to --lock-timeout when another run holds it."""
    from orchestrator.lock_wait import locked

    return locked(backend, break_lock=args.break_lock, timeout=args.lock_timeout)


def _identity(args, aws):
    """The state location's name, the walk's shared reads, and what AWS shows of the environment
    (its VPC, read through the listing the walk's own VPC lookup uses); refused here, before any
    change, when the environment names another state location."""
    from orchestrator import identity
    from resources.aws.shared_reads import SharedReads
    from state import default_state_dir, resolve_location

    here = identity.location_name(resolve_location(args.state, default_state_dir()))
    shared = SharedReads()
    live = identity.read(aws, args.env, shared)
    identity.check(live, here, args.env)
    return here, shared, live


def _config(args, doc):
    """The configuration this run uses (--config, else the state's), said in one log line."""
    import structlog

    from orchestrator.config import choose_config
    from orchestrator.stack import node_keys

    chosen = choose_config(args.given, doc, args.env, node_keys())
    log = structlog.get_logger()
    fields = chosen.entry()
    if chosen.origin == "pending":
        log.warning("config_of_failed_run", **fields,
                    detail="the last reconcile failed while applying this configuration; this run continues it")
    elif chosen.origin == "defaults" and doc.resources:
        log.warning("config_not_recorded", **fields,
                    detail="no configuration is recorded in this environment's state; this run uses the defaults "
                           "(pass --config FILE to say what the environment should be)")
    else:
        # The JSON documents carry it too; stderr stays quiet for the usual case.
        log.debug("config_used", **fields)
    return chosen


def run_reconcile(args, *, plan: bool | None = None) -> tuple[int, dict]:
    """One pass; prints the human rendering unless --json; returns the exit code and JSON document."""
    from orchestrator import identity, saved_plan
    from orchestrator.config import remember_config, retired_tag_keys
    from orchestrator.report import change_entries, duplicate_entries
    from orchestrator.run import allow_replace_keys, apply_stack, reconcile_stack, redeploy_keys, rotate_names

    plan = args.plan if plan is None else plan
    aws, backend = open_backend(args)
    with _locked(args, backend):
        doc = backend.load()
        _note_previous_holder(backend)
        here, shared, live = _identity(args, aws)
        chosen = _config(args, doc)
        identity.require_configuration(live, doc, chosen, args.env)
        redeploy = redeploy_keys(getattr(args, "redeploy", []), args.env, chosen.cfg)
        # A plain run finishing a failed one's configuration finishes the replacements it was allowed.
        allow_replace = allow_replace_keys(getattr(args, "allow_replace", []), args.env, chosen.cfg) or chosen.consented
        rotate = rotate_names(getattr(args, "rotate", []), args.env, chosen.cfg)
        # What a saved plan rests on; with --apply, checked against the file's before anything.
        basis = saved_plan.basis(args, doc, chosen, region=aws.region, account=backend.account, location=here,
                                 allow_replace=allow_replace, redeploy=redeploy, rotate=rotate)

        def before_changes():
            # Recorded before the first mutating call: a run stopped anywhere after this point
            # (Ctrl-C, SIGTERM, SIGKILL) leaves the configuration it was asked for as pending,
            # which the next plain run finishes (config.choose_config).
            doc.account = doc.account or backend.account
            doc.retired = None  # created anew: no longer torn down
            remember_config(doc, chosen, succeeded=False, consented=allow_replace)
            backend.save(doc)

        words = ("plan", "reading", "read") if plan else ("reconcile", "working", "ready")
        with _progress(args, *words) as observer:
            common = dict(env=args.env, doc=doc, save=lambda: backend.save(doc), cfg=chosen.cfg,
                          parallelism=args.parallelism, observer=observer, retired_tags=retired_tag_keys(doc, chosen.cfg),
                          redeploy=redeploy, allow_replace=allow_replace, rotate=rotate, location=here, shared=shared)
            if plan:
                run = reconcile_stack(aws, plan=True, quotas=True, **common)
            else:
                run = apply_stack(aws, before_changes=before_changes, check_plan=saved_plan.checker(args), **common)
        if not plan and not run.refused:  # a refused apply changed nothing: nothing to remember
            remember_config(doc, chosen, succeeded=run.ok, consented=allow_replace)
            backend.save(doc)
    document = {
        "env": args.env,
        "region": aws.region,
        "plan": plan,
        "config": chosen.entry(),
        "changes": change_entries(run.results),
        "duplicates_removed": duplicate_entries(run.results),
        "outputs": run.outputs,
        "failed": _failure_entries(run),
        "aws_calls": aws.calls.summary(),
        "azs": run.azs.entry() if run.azs else None,
    }
    code = _reconcile_outcome(args, plan, run)
    if plan and args.out:
        document["saved_plan"] = saved_plan.save(args, basis, run, applicable=code != EXIT_ERROR)
    elif not plan and args.apply:
        document["saved_plan"] = args.apply
    return code, document


def _reconcile_outcome(args, plan: bool, run) -> int:
    """What a reconcile prints for a person, and its exit code."""
    from orchestrator.report import changes_of, render_changes, render_outputs

    if not args.json:
        if plan and run.azs:
            print(run.azs.line())
        # A refused apply is shown as the plan it stopped at.
        print(render_changes(run.results, past=not plan and not run.refused, failed=not run.ok, refused=bool(run.refused)))
        title = "Outputs" if run.ok else "Last known outputs"
        if not plan or not run.ok:
            print(f"\n{title}:\n" + render_outputs(run.outputs))
    _print_failures(run)
    if not run.ok:
        return EXIT_ERROR
    if run.refused:
        # docs/architecture.md: a plan never promises what the apply will refuse, and the apply refuses
        # it before its first mutating call.
        for r in run.refused:
            print(f"error: {r.key}: {r.refusal}", file=sys.stderr)
        if not plan:
            print("error: nothing was changed", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_CHANGES if plan and changes_of(run.results) else EXIT_OK


def reconcile(args) -> int:
    code, document = run_reconcile(args)
    if args.json:
        from orchestrator.report import dump

        print(dump(document))
    return code


def teardown(args) -> int:
    from orchestrator.report import dump
    from orchestrator.retained import describe as describe_retained, retire
    from orchestrator.run import prepare_teardown, refuse_protected_config

    aws, backend = open_backend(args)
    with _locked(args, backend):
        doc = backend.load()
        _note_previous_holder(backend)
        chosen = _config(args, doc)
        # Refused (configuration, a state that is not the environment's own, live deletion
        # protection) before the question is asked.
        refuse_protected_config(args.env, chosen.cfg)
        _identity(args, aws)
        prepared = prepare_teardown(aws, env=args.env, doc=doc, save=lambda: backend.save(doc), cfg=chosen.cfg)
        if not args.yes:
            confirm_teardown(args.env, aws.region)
        with _progress(args, "teardown", "deleting", "gone") as observer:
            run = prepared.run(parallelism=args.parallelism, observer=observer)
        if run.ok:  # retired: state list and drift say so from now on (docs/usage.md)
            retired = retire(aws, args.env, doc, run.results)
            backend.save(doc)
    retained = retired["retained"] if run.ok else []
    deleted = [
        {"resource": r.key, "kind": r.kind, "name": r.name, "id": r.id} for r in run.results if r.action == "delete"
    ]
    _print_failures(run)
    if args.json:
        print(dump({"env": args.env, "region": aws.region, "config": chosen.entry(), "deleted": deleted,
                    "retained": retained, "failed": _failure_entries(run), "aws_calls": aws.calls.summary()}))
    else:
        # A key scheduled for deletion is not deleted yet: said with its date, not as "deleted".
        scheduled = {e["id"] for e in retained if e["kind"] == "kms_key"}
        gone = [e for e in deleted if not (e["kind"] == "kms_key" and e["id"] in scheduled)]
        for entry in gone:
            print(f"- deleted {entry['kind']} {entry['name']} ({entry['id']})")
        for entry in retained:
            print(f"- {describe_retained(entry)}")
        print(f"{len(gone)} deleted." if gone else "Nothing of the environment was left to delete.")
        if not run.ok:
            print("The teardown failed: part of the environment is left (see the errors); run it again.")
    return EXIT_OK if run.ok else EXIT_ERROR


def _progress(args, verb: str, active: str, done: str):
    """On a terminal, a live view of the walk on stderr (orchestrator.progress); else nothing."""
    from orchestrator.progress import Words, live_progress, wanted

    words = Words(f"{verb} {args.env}", active, done)
    return live_progress(sys.stderr, words, enabled=wanted(sys.stderr, args.log_format))


def _root_first(run):
    """Failures in the order a reader needs them: what failed, then what was not attempted."""
    causes = {k: o for k, o in run.failures.items() if o.status == "failed"}
    others = {k: o for k, o in run.failures.items() if o.status != "failed"}
    return causes, others


def _failure_entries(run) -> list[dict]:
    causes, others = _root_first(run)
    # A change the plan found AWS would refuse stops the run before anything: each one a cause.
    refused = [{"resource": r.key, "status": "refused", "reason": r.refusal} for r in run.refused]
    return refused + [{"resource": k, "status": o.status, "reason": o.reason} for k, o in {**causes, **others}.items()]


def _print_failures(run) -> None:
    causes, others = _root_first(run)
    for key, outcome in causes.items():
        print(f"error: {key}: {outcome.reason}", file=sys.stderr)
        for line in outcome.details:
            print(f"  {line}", file=sys.stderr)
    blocked = sorted(k for k, o in others.items() if o.status == "dependency_failed")
    if blocked:
        print(f"error: {len(blocked)} resource(s) not attempted because a dependency failed: {', '.join(blocked)}",
              file=sys.stderr)
    interrupted = sorted(k for k, o in others.items() if o.status != "dependency_failed")
    if interrupted:
        print(f"error: {len(interrupted)} resource(s) not attempted, the run was interrupted: {', '.join(interrupted)}",
              file=sys.stderr)


def confirm_teardown(env: str, region: str) -> None:
    if not sys.stdin.isatty():
        raise UserError("refusing to tear down without --yes: no terminal to confirm on")
    answer = input(f"Delete everything environment '{env}' owns in {region}? Type the environment name to confirm: ")
    if answer.strip() != env:
        raise UserError("teardown cancelled: the confirmation did not match")


def _note_previous_holder(backend) -> None:
    import structlog

    for event, holder in (("previous_run_interrupted", getattr(backend, "previous_holder", None)),
                          ("state_lock_broken", getattr(backend, "broken_holder", None)),
                          # S3: a lock whose lease ran out (its run killed, its runner gone), taken over.
                          ("state_lock_expired", getattr(backend, "expired_holder", None))):
        if holder is not None:
            extra = {k: holder[k] for k in ("user", "expires_at", "ci_run") if k in holder}
            structlog.get_logger().warning(
                event, pid=holder.get("pid"), host=holder.get("host"), started_at=holder.get("started_at"),
                command=holder.get("command"), **extra,
            )


def run_sandbox(args) -> int:
    try:
        from sandbox.server import embedded_server, sandbox_environment
    except ImportError:
        raise UserError("--sandbox needs moto: pip install -e '.[sandbox]'") from None
    region = args.region or "us-east-1"
    with embedded_server(speed=args.sandbox_speed) as endpoint, sandbox_environment(endpoint, region), tempfile.TemporaryDirectory() as tmp:
        args.region = region
        args.state = args.state or tmp
        quiet_json = args.json
        passes = {}
        for title, plan in (("plan", True), ("apply", False), ("second pass (must change nothing)", True)):
            if not quiet_json:
                print(f"\n=== sandbox: {title} against {endpoint}")
            code, document = run_reconcile(args, plan=plan)
            passes[title.split(" ")[0]] = document
            if code == EXIT_ERROR:
                return EXIT_ERROR
        second = passes["second"]
        if args.json:
            from orchestrator.report import dump

            print(dump({**passes["apply"], "sandbox": {"endpoint": endpoint, "plan": passes["plan"]["changes"],
                                                       "second_pass_changes": second["changes"]}}))
        else:
            from orchestrator.report import render_outputs

            calls = {k: passes[k]["aws_calls"] for k in ("apply", "second")}
            print(
                f"\n=== sandbox: outputs (AWS calls: apply {calls['apply']['total']} with {calls['apply']['mutating']} "
                f"mutating; second pass {calls['second']['total']} with {calls['second']['mutating']} mutating)"
            )
            print(render_outputs(passes["apply"]["outputs"]))
        return EXIT_OK if not second["changes"] else EXIT_ERROR


def _drift_document(env: str, region: str, chosen, report) -> dict:
    from orchestrator.report import UNMANAGED_ADVICE

    document = {
        "env": env, "region": region, "config": chosen.entry() if chosen else None, "in_sync": report.in_sync,
        "drifted": report.drifted, "missing": report.missing,
        "unmanaged": [{**u, "advice": UNMANAGED_ADVICE} for u in report.unmanaged],
        "unchecked": report.unchecked, "failed": report.failed, "pending": report.pending, "ignored": report.ignored,
        "retained": report.retained,
    }
    if report.retired:
        document["retired"] = report.retired
    return document


def _drift_exit(documents: list[dict], *, new_only: bool = False) -> int:
    """2 on drift; with --new-only, only on drift new since the last check. A resource that could
    not be read makes it 1 otherwise, new or not: the check is incomplete, never in sync."""
    if new_only:
        drifted = any(f["category"] != "unchecked" for d in documents for f in d["new"])
    else:
        drifted = any(d["drifted"] or d["missing"] or d["unmanaged"] or d["failed"] for d in documents)
    if drifted:
        return EXIT_CHANGES
    # Only unreadable resources: the check itself failed; never reported as in sync.
    return EXIT_ERROR if any(d["unchecked"] for d in documents) else EXIT_OK


def drift(args) -> int:
    from orchestrator import identity
    from orchestrator.config import retired_tag_keys
    from orchestrator.drift import drift_retired, drift_stack
    from orchestrator.notify import notify
    from orchestrator.report import dump, render_drift

    if args.all:
        return drift_all(args)
    aws, backend = open_backend(args)
    # Read-only: no lock (a scheduled check must not block a reconcile) and no state write;
    # the state file is replaced atomically, so a concurrent reader sees a whole document.
    # --new-only writes only the record of its findings, beside the state (_mark_new).
    doc = backend.load()
    _, shared, live = _identity(args, aws)
    chosen = _config(args, doc)
    # Judged against the defaults, a live environment whose configuration is unknown drifts
    # everywhere it was configured: an alarm that says nothing true.
    identity.require_configuration(live, doc, chosen, args.env)
    if doc.retired:  # torn down: nothing is expected, nothing is missing
        report = drift_retired(aws, env=args.env, doc=doc, cfg=chosen.cfg)
    else:
        with _progress(args, "drift", "reading", "read") as observer:
            report = drift_stack(aws, env=args.env, doc=doc, cfg=chosen.cfg, parallelism=args.parallelism,
                                 observer=observer, retired_tags=retired_tag_keys(doc, chosen.cfg), shared=shared)
    document = _drift_document(args.env, aws.region, chosen, report)
    if args.new_only:
        _mark_new(backend, document)
    document["aws_calls"] = aws.calls.summary()
    print(render_drift(document), file=_summary_stream(args))
    if args.json:
        print(dump(document))
    if _worth_notifying([document], args.new_only):
        notify(document, command=args.notify_command, webhook=args.notify_webhook)
    return _drift_exit([document], new_only=args.new_only)


def _summary_stream(args):
    # The report for people is drift's answer: stdout. With --json the document is the answer
    # (stdout holds it alone) and the report stays beside the logs on stderr.
    return sys.stderr if args.json else sys.stdout


def _worth_notifying(documents: list[dict], new_only: bool) -> bool:
    if new_only:
        return any(d["new"] for d in documents)
    return not all(d["in_sync"] for d in documents)


def _mark_new(backend, document: dict) -> None:
    """--new-only: add to ``document`` what is new since the last --new-only check of the
    environment (``new``: each finding with its list and fingerprint; ``new_since``: when that
    check ran, null for none) and leave this check's findings for the next one. Only checks with
    --new-only read or write the record: an ad-hoc check never takes an alert's newness away."""
    from datetime import datetime, timezone

    import structlog

    from orchestrator.drift_rules import compare, findings, previous_check

    checked_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    log = structlog.get_logger()

    def update(previous):
        new, record = compare(previous, document, checked_at=checked_at)
        return record, (new, previous_check(previous))

    try:
        new, since = backend.update_drift_record(update)
    except Exception as exc:  # noqa: BLE001 - a lost record must not hide drift
        # At least once: every finding is new (alerted again next time) rather than none.
        log.error("drift_record_not_saved", env=document["env"], error=one_line(exc),
                  detail="every finding is reported as new; the next check compares with the last record saved")
        new, since = findings(document), None
    if getattr(backend, "drift_record_unreadable", False):
        log.warning("drift_record_unreadable", env=document["env"],
                    detail="the last check's record is not a JSON object; every finding is reported as new")
    document["new"], document["new_since"] = new, since


# Environments checked at once by --all, and the readers all their walks share: --parallelism
# for one environment, divided among ten (160 threads contending for one interpreter made ten
# environments slower than 40 did, bench/drift_all.py).
ALL_ENVIRONMENTS_AT_ONCE = 10
ALL_READERS = 40


def drift_all(args) -> int:
    """Every environment in one report: those with state at the location (in every region, each
    checked as the role its state records) and those the ownership tags show; one tagging-API
    sweep per account and region serves them all."""
    from concurrent.futures import ThreadPoolExecutor

    from orchestrator.report import dump

    walk = _AllEnvironments(args)
    with ThreadPoolExecutor(max_workers=walk.at_once) as pool:
        checked = [d for d in pool.map(walk.check, walk.pairs) if d is not None]
    environments, retired, errors = _split_checked(walk.errors + checked)
    document = {
        "all": True, "region": walk.aws.region,
        "in_sync": all(d["in_sync"] for d in environments) and not errors,
        "environments": environments, "retired": retired, "errors": errors, "aws_calls": walk.calls(),
    }
    if args.new_only:
        document["new_only"] = True
    _print_all(args, ", ".join(walk.regions), environments, retired, errors)
    if args.json:
        print(dump(document))
    _notify_all(args, document, environments)
    code = _drift_exit(environments, new_only=args.new_only)
    return EXIT_ERROR if code == EXIT_OK and errors else code


class _Group:
    """The environments of one account and region: the tagging-API sweep and the EC2 listings
    split among their VPCs are made once for all of them. ``states``: env -> (backend, its
    document or the exception loading it, the Aws its walk runs as)."""

    def __init__(self, aws, account: str, states: dict[str, tuple]):
        from orchestrator.drift import discover

        self.aws, self.account, self.region = aws, account, aws.region
        self.backends = {env: backend for env, (backend, _, _) in states.items()}
        self.docs = {env: doc for env, (_, doc, _) in states.items()}
        self.runs_as = {env: env_aws for env, (_, _, env_aws) in states.items()}
        self.found = discover(aws, list(states))
        self.shared = self._shared_listings()

    def _shared_listings(self) -> dict:
        # One listing per EC2 kind for every environment's VPC, split among their walks.
        from resources.aws.inventory import shared_across

        from orchestrator.stack import batched_kinds

        docs = {env: doc for env, doc in self.docs.items() if not isinstance(doc, Exception)}
        shared = shared_across(self.aws.client("ec2"), {env: (doc.resource("vpc") or {}).get("id") for env, doc in docs.items()})
        # The kinds one call describes several of (ECS clusters: 100) are asked for every
        # environment at once: each walk finds its resources in the answer (the engine's batched
        # reader, orchestrator/lifecycle.py).
        kinds = batched_kinds()
        for env, doc in docs.items():
            for entry in doc.resources.values():
                handler = kinds.get(entry.get("kind"))
                if handler is not None and entry.get("id") and not entry.get("intent"):
                    shared[env].across.want(handler.describe_many, entry["id"])
        return shared


class _AllEnvironments:
    """What drift --all's checks share: the state location, every state loaded once, and per
    account and region (a _Group) the sweep and the EC2 listings. Each environment is checked in
    its state's region as the role its recorded configuration names (else as the caller)."""

    def __init__(self, args):
        import structlog

        from orchestrator import identity
        from resources.aws.pacing import pace_apigateway
        from state import default_state_dir, resolve_location

        self.args = args
        self.location = resolve_location(args.state, default_state_dir())
        self.here = identity.location_name(self.location)
        self.aws, _ = open_backend(args, env=None)  # the caller's credentials, in --region
        self.log = structlog.get_logger()
        self.sessions = {("", self.aws.region): self.aws}
        # Every environment's walk shares the account's API Gateway request rate.
        pace_apigateway(self.aws.client("apigateway"))
        # Environments whose role could not be assumed, or whose state is another account's.
        self.errors: list[dict] = []
        groups = self._grouped(self._load_states())
        self.groups = [_Group(runs_as, account, states) for (account, _), (runs_as, states) in groups.items()]
        self.regions = sorted({g.region for g in self.groups})
        self.pairs = [(g, env) for g in self.groups for env in g.found.names]
        self.at_once = max(1, min(ALL_ENVIRONMENTS_AT_ONCE, len(self.pairs)))
        self.per_env = max(2, min(args.parallelism, ALL_READERS // self.at_once))

    def _load_states(self) -> list[tuple]:
        """(env, region, backend, its document or the exception loading it) of every state at
        the location, in every region."""
        from orchestrator.state_cli import _entries

        states = []
        # The state bucket is the caller's: every S3 call names its account (ExpectedBucketOwner).
        for entry in _entries(self.location, self.aws.region, self.aws.account_id()):
            backend = state_backend(self.location, entry["env"], entry["region"], None, check=False,
                                    owner=self.aws.account_id())
            try:
                doc = backend.load()
            except Exception as exc:  # noqa: BLE001 - one environment's bad state must not hide the others
                doc = exc
            states.append((entry["env"], entry["region"], backend, doc))
        return states

    def _grouped(self, states: list[tuple]) -> dict:
        """(account, region) -> (the Aws its sweep runs as, {env: (backend, doc, the env's Aws)});
        the caller's own account and region always, for the environments only tags show."""
        groups = {(self.aws.account_id(), self.aws.region): (self.aws, {})}
        for env, region, backend, doc in states:
            try:
                runs_as = self._session(_recorded_role(doc, env), region)
                account = runs_as.account_id()
                if not isinstance(doc, Exception) and doc.account not in (None, account):
                    raise UserError(f"its state records account {doc.account}, but its credentials are for account "
                                    f"{account}")
            except Exception as exc:  # noqa: BLE001 - one environment's role must not hide the others
                self.errors.append({"env": env, "region": region, "state": "unreadable", "error": one_line(exc)})
                continue
            backend.account = account
            groups.setdefault((account, region), (runs_as, {}))[1][env] = (backend, doc, runs_as)
        return groups

    def _session(self, role: str, region: str):
        """The Aws of a role (or of the caller, for none) in a region: one per pair, shared."""
        from resources.aws import Aws
        from resources.aws.pacing import pace_apigateway

        key = (role, region)
        if key not in self.sessions:
            base = self.aws if region == self.aws.region else Aws(region)
            self.sessions[key] = as_role(base, role, "drift", "all") if role else base
            # Every environment's walk shares the account's API Gateway request rate.
            pace_apigateway(self.sessions[key].client("apigateway"))
        return self.sessions[key]

    def calls(self) -> dict:
        summaries = [aws.calls.summary() for aws in self.sessions.values()]
        return {key: sum(s[key] for s in summaries) for key in ("total", "mutating")}

    def check(self, pair) -> dict | None:
        """One environment's drift document; None when there is nothing of it to report."""
        from orchestrator import identity
        from orchestrator.names import validate_env

        group, env = pair
        try:
            validate_env(env)
        except UserError as exc:
            # An Environment tag no name of ours can have: not an environment of this tool.
            return {"env": env, "region": group.region, "state": "invalid", "error": one_line(exc)}
        swept = group.found.swept.get(env, [])
        named = identity.named_elsewhere(swept, self.here)
        if named:
            # Its state lives at another location (moved there, or this copy is stale): checked
            # there, not judged against a copy here nor called unmanaged.
            return {**_drift_document(env, group.region, None, DriftLike(unmanaged=[])), "state": "elsewhere",
                    "state_location": named, "account": group.account}
        if env not in group.found.with_state:
            document = self._check_without_state(group, env, swept)
        else:
            document = self._check_with_state(group, env, swept)
        return None if document is None else {**document, "account": group.account}

    def _check_without_state(self, group: _Group, env: str, swept: list) -> dict | None:
        """An environment only the ownership tags show: whatever it still owns is unmanaged."""
        from orchestrator.drift import leftovers

        unmanaged, retained = leftovers(group.aws, swept)
        if not unmanaged and not retained:
            return None  # only resources deleted a while ago still listed (C-TAG-1): gone
        if unmanaged:
            self.log.warning("environment_without_state", env=env, resources=len(unmanaged))
        report = DriftLike(unmanaged=unmanaged, retained=retained)
        document = {**_drift_document(env, group.region, None, report), "state": "none"}
        if self.args.new_only:
            # Its record is kept where its state would be: a leftover is alerted on once.
            _mark_new(state_backend(self.location, env, group.region, group.account, check=False,
                                    owner=self.aws.account_id()), document)
        return document

    def _check_with_state(self, group: _Group, env: str, swept: list) -> dict | None:
        """An environment with state here: compared with the configuration its state records."""
        from orchestrator.config import choose_config
        from orchestrator.stack import node_keys

        doc = group.docs[env]
        try:
            if isinstance(doc, Exception):
                raise doc
            chosen = choose_config(None, doc, env, node_keys())
        except Exception as exc:  # noqa: BLE001 - one environment's bad state must not hide the others
            return {"env": env, "region": group.region, "state": "unreadable", "error": one_line(exc)}
        if not doc.resources and not swept:
            return None  # torn down: its state records nothing and AWS shows nothing
        report = self._drift(group, env, doc, chosen, swept)
        document = {**_drift_document(env, group.region, chosen, report), "state": "found"}
        if self.args.new_only:
            _mark_new(group.backends[env], document)  # each environment's own record
        return document

    def _drift(self, group: _Group, env: str, doc, chosen, swept: list):
        from orchestrator.config import retired_tag_keys
        from orchestrator.drift import drift_retired, drift_stack

        aws = group.runs_as[env]
        if doc.retired:  # torn down: nothing is expected, nothing is missing
            return drift_retired(aws, env=env, doc=doc, cfg=chosen.cfg, swept=swept)
        return drift_stack(aws, env=env, doc=doc, cfg=chosen.cfg, parallelism=self.per_env,
                           retired_tags=retired_tag_keys(doc, chosen.cfg), swept=swept, shared=group.shared.get(env))


def _recorded_role(doc, env: str) -> str:
    """The role an environment's recorded configuration names; none when the state cannot be
    read (its check says why, as the caller)."""
    if isinstance(doc, Exception):
        return ""
    try:
        return _recorded_config(doc, env).role_arn
    except Exception:  # noqa: BLE001 - reported by the environment's own check
        return ""


def _split_checked(checked: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """The checked environments, those torn down and in sync, and those that could not be checked."""
    # Torn down and in sync (only what AWS keeps on purpose left): listed apart, never alerted on.
    retired = [d for d in checked if "error" not in d and d["in_sync"] and (d.get("retired") or d["state"] == "none")]
    environments = [d for d in checked if "error" not in d and d not in retired]
    errors = [d for d in checked if "error" in d]
    return environments, retired, errors


def _print_all(args, region: str, environments: list[dict], retired: list[dict], errors: list[dict]) -> None:
    from orchestrator.report import render_drift

    for d in environments:
        if d["state"] == "elsewhere":
            print(f"{d['env']}: its state lives at {d['state_location']}; check it there", file=_summary_stream(args))
            continue
        note = " (no state: everything it still owns is unmanaged)" if d["state"] == "none" else ""
        print(render_drift(d) + note, file=_summary_stream(args))
    for d in retired:
        print(render_drift(d), file=_summary_stream(args))
    for d in errors:
        print(f"error: {d['env']}: {d['error']}", file=sys.stderr)
    print(f"{len(environments)} environment(s) checked in {region}, "
          f"{sum(not d['in_sync'] for d in environments)} with drift"
          + (f"; {len(retired)} torn down." if retired else "."), file=_summary_stream(args))


def _notify_all(args, document: dict, environments: list[dict]) -> None:
    from orchestrator.notify import notify

    # --new-only: notified when an environment has something new (an unreadable state is in
    # the exit code and on stderr, every time).
    worth = _worth_notifying(environments, True) if args.new_only else not document["in_sync"]
    if worth:
        notify(document, command=args.notify_command, webhook=args.notify_webhook)


class DriftLike:
    """A report of an environment with no state: only what its tags still mark."""

    def __init__(self, unmanaged: list[dict], retained: list[dict] = ()):
        self.drifted, self.missing, self.unchecked, self.unmanaged, self.ignored = [], [], [], unmanaged, []
        self.failed, self.pending, self.retained, self.retired = [], [], list(retained), None
        self.in_sync = not unmanaged


COMMANDS = {"reconcile": reconcile, "teardown": teardown, "drift": drift}
