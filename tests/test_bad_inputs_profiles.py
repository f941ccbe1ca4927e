"""Bad inputs of profiles (run profiles, seeding, progress bars): each is refused naming the argument."""

from __future__ import annotations

import numpy as np
from bad_input_table import table_tests

from ssm_metarl import profiles

EXEMPT = {
    "ssm_metarl.profiles.current": "takes no argument: reads SSM_METARL_PROFILE (checked there)",
    "ssm_metarl.profiles.describe": "takes no argument: one line about the active profile",
}

CASES = [
    ("profiles.pick profile='huge'", lambda p: profiles.pick(1, 2, 3, profile="huge"), ValueError,
     "profile"),
    ("profiles.pick profile=1", lambda p: profiles.pick(1, 2, 3, profile=1), ValueError,
     "profile"),
    ("profiles.seed_everything seed=-1", lambda p: profiles.seed_everything(-1), ValueError,
     "seed"),
    ("profiles.seed_everything seed='0'", lambda p: profiles.seed_everything("0"), ValueError,
     "seed"),
    ("profiles.seed_everything seed=1.5", lambda p: profiles.seed_everything(1.5), ValueError,
     "seed"),
    ("profiles.best_time fn=3", lambda p: profiles.best_time(3), TypeError, "fn"),
    ("profiles.best_time repeats=0", lambda p: profiles.best_time(print, repeats=0), ValueError,
     "repeats"),
    ("profiles.progress_bar iterable=5", lambda p: profiles.progress_bar(5, "x"), TypeError,
     "iterable"),
    ("profiles.progress_bar desc=None", lambda p: profiles.progress_bar(range(2), None),
     TypeError, "desc"),
    ("profiles.progress_bar enabled='no'",
     lambda p: profiles.progress_bar(range(2), "x", "no"), TypeError, "enabled"),
]

test_bad_input_is_refused_clearly, test_no_bad_input_gives_an_internal_error = table_tests(CASES)


def test_valid_inputs_of_profiles_still_run():
    """What the checks above must still let through."""
    assert profiles.pick(1, 2, 3, profile="paper") == 3
    assert profiles.seed_everything(np.int64(3)).initial_seed() == 3
    assert list(profiles.progress_bar([1, 2], "x", enabled=np.bool_(False))) == [1, 2]
