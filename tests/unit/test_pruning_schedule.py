"""The pruning schedule is computed from the data, so the target sparsity is really reached."""

from hypothesis import given
from hypothesis import strategies as st

from edgekit.pipeline.prune import MASK_UPDATES, pruning_steps


def mask_update_steps(steps):
    """The optimizer steps (counted from 1, as tfmot's wrapper does) at which tfmot updates the masks."""
    return [step for step in range(1, steps.total_steps + 1)
            if steps.begin_step <= step <= steps.end_step and (step - steps.begin_step) % steps.frequency == 0]


@given(samples=st.integers(1, 100_000), batch_size=st.integers(1, 512), epochs=st.integers(1, 20))
def test_last_mask_update_reaches_the_target_within_training(samples, batch_size, epochs):
    steps = pruning_steps(samples, batch_size, epochs)
    updates = mask_update_steps(steps) if steps.total_steps < 50_000 else None
    assert steps.end_step % steps.frequency == 0  # the final sparsity is applied at end_step itself
    assert steps.end_step <= max(1, steps.total_steps)
    if updates is not None:
        assert updates and updates[-1] == steps.end_step


def test_small_data_set_is_not_caught_by_the_default_frequency():
    # 1,259 digits in batches of 64 for 2 epochs: 40 steps. tfmot's default frequency of 100 would
    # update the masks never (step 0 is never run), leaving the "pruned" model dense.
    steps = pruning_steps(1259, 64, 2)
    assert steps.total_steps == 40
    assert steps.frequency < 100
    assert len(mask_update_steps(steps)) >= MASK_UPDATES
    assert steps.end_step == 28
