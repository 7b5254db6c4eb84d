"""The estimator is pure Python: importing it loads no Django (scripts and the SDK can use it)."""

from __future__ import annotations

import subprocess
import sys


def test_the_estimator_imports_without_django() -> None:
    code = (
        "import sys, apps.planner.estimator as e; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'celery', 'ray')); "
        "print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
