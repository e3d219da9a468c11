"""verify: link the site modules into a private copy of the base policy and prove each site isolated.

modules.py finds the compiled modules, policyroot.py links them (one semodule call), proofs.py
proves the properties (nine proofs) on the linked policy, report.py prints the matrix, cache.py skips the
relink when the same modules were already proven. run.py ties them together.
"""

from .run import VerifyResult, verify_modules

__all__ = ["VerifyResult", "verify_modules"]
