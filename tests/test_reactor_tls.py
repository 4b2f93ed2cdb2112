"""``reactor_tls``: the ``sys.modules`` entries that hide Twisted's TLS modules last for the
one import of the reactor modules only, whether that import succeeds or fails."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Run in a fresh interpreter: the reactor modules must not be imported yet.
FAILING_IMPORT = textwrap.dedent(
    """
    import sys
    from asgid.reactor_tls import TLS_MODULES, import_reactor_without_tls

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            if name == "twisted.internet.asyncioreactor":
                raise RuntimeError("refused")
            return None

    sys.meta_path.insert(0, Refuse())
    try:
        import_reactor_without_tls()
    except RuntimeError:
        pass
    else:
        raise SystemExit("the failing import did not raise")
    sys.meta_path.pop(0)
    left = [name for name in TLS_MODULES if name in sys.modules and sys.modules[name] is None]
    assert not left, left
    import twisted.internet.ssl  # importable again, as for any later import
    print("restored")
    """
)


def test_tls_modules_are_importable_again_after_a_failed_reactor_import() -> None:
    result = subprocess.run(
        [sys.executable, "-c", FAILING_IMPORT], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "restored"
