"""``check_*`` functions for the exercise cells of every notebook.

Each notebook's checkers live in their own submodule and are re-exported here,
so an exercise cell only needs ``from ssm_metarl.exercises import check_...``.
"""

from ._core import (
    ExerciseCheckFailed,
    NotImplementedYet,
    assert_close,
    call_student,
    exercise_check,
    grading,
    passed,
)
from .adaptation import (
    check_online_forecast,
    check_predict_then_update_step,
    check_recovery_time,
    check_trailing_mean,
    check_ttt_identity_step,
)
from .maml import (
    check_first_order_meta_grad,
    check_inner_step,
    check_maml_meta_gradient,
    check_multi_step_adapt,
    check_reptile_update,
)
from .metaworld import (
    check_episode_successes,
    check_goal_from_rewards,
    check_probe_error,
    check_reach_controller,
    check_seed_interval,
)
from .rl import (
    check_bandit_reinforce,
    check_discounted_returns,
    check_gae,
    check_pg_surrogate,
    check_ucb1_choice,
)
from .ssm import (
    check_discretize_zoh_diagonal,
    check_s4d_convolution,
    check_scan_step,
    check_ssd_chunk_state,
    check_ssd_chunked_head,
    check_ssd_mask,
    check_ssm_kernel,
    check_ssm_recurrence,
)
from .system import (
    check_recurrent_inner_step,
    check_trial_starts,
    check_ucb_over_policies,
    check_ucb_policy_choice,
    check_window_returns,
)
from .welcome import check_euler_step

__all__ = [
    "ExerciseCheckFailed",
    "NotImplementedYet",
    "exercise_check",
    "grading",
    "assert_close",
    "call_student",
    "passed",
    "check_euler_step",
    "check_episode_successes",
    "check_reach_controller",
    "check_seed_interval",
    "check_inner_step",
    "check_first_order_meta_grad",
    "check_reptile_update",
    "check_multi_step_adapt",
    "check_maml_meta_gradient",
    "check_discretize_zoh_diagonal",
    "check_ssm_kernel",
    "check_scan_step",
    "check_ssd_chunk_state",
    "check_ssd_mask",
    "check_ssd_chunked_head",
    "check_ssm_recurrence",
    "check_s4d_convolution",
    "check_gae",
    "check_pg_surrogate",
    "check_ucb1_choice",
    "check_discounted_returns",
    "check_bandit_reinforce",
    "check_predict_then_update_step",
    "check_recovery_time",
    "check_ttt_identity_step",
    "check_trailing_mean",
    "check_online_forecast",
    "check_recurrent_inner_step",
    "check_trial_starts",
    "check_ucb_policy_choice",
    "check_window_returns",
    "check_ucb_over_policies",
    "check_probe_error",
    "check_goal_from_rewards",
]
