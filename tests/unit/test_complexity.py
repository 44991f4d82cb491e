"""No function of the code is rated D or worse by radon (cyclomatic complexity above 20): a
function that grows past it is cut into named steps, as `radon cc -s -n D orchestrator resources
state sandbox bin` would show."""
from pathlib import Path

from radon import complexity

ROOT = Path(__file__).resolve().parents[2]
MEASURED = ("orchestrator", "resources", "state", "sandbox", "bin")
CEILING = 20  # radon's rank C ends at 20; D starts at 21


def _blocks(blocks):
    # radon lists functions, classes and methods; closures too here: a closure's branches are
    # as hard to follow as a function's.
    for block in blocks:
        yield block
        yield from _blocks(getattr(block, "closures", []))


def test_no_function_is_rated_d_or_worse():
    too_complex = [
        f"{path.relative_to(ROOT)}:{block.lineno} {block.fullname} {block.complexity}"
        for folder in MEASURED
        for path in sorted((ROOT / folder).rglob("*.py"))
        for block in _blocks(complexity.cc_visit(path.read_text()))
        if block.complexity > CEILING
    ]
    assert not too_complex, "cut these into named steps (cyclomatic complexity > 20):\n" + "\n".join(too_complex)
