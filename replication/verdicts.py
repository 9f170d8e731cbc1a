"""The verdicts a claim can get, named once (the statistics decide them, the plugin acts on them, the report
shows them). A str enum: a verdict compares equal to, and is written to results.json as, its plain name."""

from __future__ import annotations

from enum import Enum


class Verdict(str, Enum):
    SUPPORTED = "SUPPORTED"
    REFUTED = "REFUTED"  # the interval excludes the claimed effect, with the claim's preconditions met
    INCONCLUSIVE = "INCONCLUSIVE"  # neither: the report gives the power and the seeds that would be needed
    # The setting lacks what the claim presupposes (its small batch's subnetworks are not unstable, its controls
    # do not train, its densities are not reached): the statement was not put to the test. The report shows the
    # precondition's own numbers beside it.
    NOT_TESTABLE = "NOT TESTABLE"
    ERROR = "ERROR"  # the runs failed or raised
    NOT_RUN = "NOT RUN"  # the scale has no honest setting for the claim; the reason is given

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


SUPPORTED, REFUTED, INCONCLUSIVE, ERROR, NOT_RUN, NOT_TESTABLE = (
    Verdict.SUPPORTED, Verdict.REFUTED, Verdict.INCONCLUSIVE, Verdict.ERROR, Verdict.NOT_RUN, Verdict.NOT_TESTABLE)
