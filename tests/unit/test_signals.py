"""A run told to stop stops: SIGTERM and SIGINT both raise KeyboardInterrupt in the command (one
line, exit 1), also when the shell that started it left SIGINT ignored (a job a script starts
with `&`), where Python would otherwise keep ignoring it and the run would go on to the end."""
import signal

from orchestrator import cli


def test_sigint_left_ignored_by_the_shell_and_sigterm_stop_the_run():
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        cli._stop_on_sigterm()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) is signal.default_int_handler
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
