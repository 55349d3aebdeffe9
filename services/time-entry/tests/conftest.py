import sys
from pathlib import Path

# The stack module lives in infra/ (not part of the installed package).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "infra"))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "shared" / "tests"))
