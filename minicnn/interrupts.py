"""Ctrl-C, SIGTERM and SIGHUP, turned into something Python code can finish or clean up after. By default SIGTERM
(``kill``) and SIGHUP (terminal closed) end the process at once: no ``finally`` block runs, a temporary file stays
and a run's weights are lost. The tools below change that while active, in the main thread (signals go there only)."""
import contextlib
import signal
import sys
import threading

# Ctrl-C, kill's default signal, and a closed terminal; Windows has no SIGHUP.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def signal_name(signum):
    """'SIGTERM' for 15, and so on; Ctrl-C is called what the user pressed."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class Terminated(BaseException):
    """SIGTERM or SIGHUP, raised as KeyboardInterrupt is for Ctrl-C (a BaseException, so ``except Exception``
    does not swallow it). ``exit_status`` is what a shell reports for a process the signal ended: 128 + number."""
    def __init__(self, signum):
        super().__init__(signal_name(signum))
        self.signum = signum
        self.exit_status = 128 + int(signum)


def _in_main_thread():
    return threading.current_thread() is threading.main_thread()


def _raise_terminated(signum, frame):
    raise Terminated(signum)


def _restore(previous):
    for signum, handler in previous.items():
        if handler is not None:                    # None: a handler set outside Python
            signal.signal(signum, handler)


@contextlib.contextmanager
def raise_on_termination(resend=True):
    """While active, SIGTERM and SIGHUP (unless someone else handles them) raise ``Terminated``, so ``finally`` blocks
    clean up; then with ``resend`` the default action comes back and the signal is sent again (the process ends,
    cleanly), else ``Terminated`` goes on to the caller (the command line reports it)."""
    replaced = {}
    if _in_main_thread():
        replaced = {s: signal.signal(s, _raise_terminated) for s in STOP_SIGNALS
                    if s != signal.SIGINT and signal.getsignal(s) == signal.SIG_DFL}
    try:
        yield
    except Terminated as e:
        if e.signum not in replaced or not resend:
            raise                                  # someone else's handler raised it: theirs
        _restore(replaced)
        signal.raise_signal(e.signum)              # the default action: the process ends here
        raise                                      # only reached where the default is ignored
    finally:
        _restore(replaced)


@contextlib.contextmanager
def deferred_signals():
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block ends, then deliver them in order: a save is never cut in half."""
    received = []
    previous = ({s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in STOP_SIGNALS}
                if _in_main_thread() else {})
    try:
        yield
    finally:
        _restore(previous)
        for signum in received:                    # the restored handlers see them now
            signal.raise_signal(signum)


class StopRequest:
    """While active, the first Ctrl-C, SIGTERM or SIGHUP only sets ``requested`` to its name, so ``train.fit``'s
    step in flight can finish; a second one raises KeyboardInterrupt at once. Outside the main thread: nothing."""

    def __init__(self):
        self.requested = None            # None, or the name of the signal that asked to stop
        self._previous = {}

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = signal_name(signum)
        print(f"\n{self.requested}: stopping after this step and saving what exists "
              "(press Ctrl-C again to stop at once, without saving)", file=sys.stderr, flush=True)

    def __enter__(self):
        if _in_main_thread():
            for signum in STOP_SIGNALS:
                if signal.getsignal(signum) == signal.SIG_IGN:
                    continue                       # e.g. SIGHUP under nohup: meant to be ignored
                with contextlib.suppress(ValueError, OSError):
                    self._previous[signum] = signal.signal(signum, self._handler)
        return self

    def __exit__(self, *exc):
        _restore(self._previous)
        self._previous = {}
