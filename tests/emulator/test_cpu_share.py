"""The CPU share of the memory size (``cpu_share=True``): a cgroup quota on every process.

Nothing here measures speed. Where the machine lets the emulator create a cgroup, a function
that burns more CPU time than its quota allows per period must have been throttled: the
kernel's own counter (``nr_throttled``) says so. Elsewhere the environment says why not, and
the integration test is skipped with that reason.
"""

from __future__ import annotations

import pytest
from conftest import Layout

from emulator import LambdaEnvironment
from emulator.cpu_quota import MIN_QUOTA_US, PERIOD_US, quota_us


def test_quota_is_the_memory_share_of_one_vcpu() -> None:
    assert quota_us(1769) == PERIOD_US  # one full vCPU at 1,769 MB
    assert quota_us(3538) == 2 * PERIOD_US
    assert quota_us(128) == round(PERIOD_US * 128 / 1769)  # 7.2 % of a CPU
    assert quota_us(1) == MIN_QUOTA_US


@pytest.mark.integration
def test_a_128_mb_function_is_throttled_to_its_share(layout: Layout) -> None:
    layout.add_probe("agent", events=["SHUTDOWN"])
    kwargs = layout.kwargs(cpu_share=True, memory_mb=128, timeout_s=120, init_timeout_s=120)
    with LambdaEnvironment(**kwargs) as env:
        quota = env.cpu_quota
        if quota is None:
            pytest.skip(f"the CPU share cannot be enforced here: {env.cpu_share_problem}")
        assert quota.quota_us == quota_us(128)
        assert set(env.pids.values()) <= set(quota.members())  # runtime and extension inside
        # 0.2 s of CPU needs at least 28 periods of 7.2 ms: the group must run out of quota.
        result = env.invoke({"burn_cpu_s": 0.2})
        assert result.status == "success", result.response
        assert quota.throttled_periods() > 0
        cgroup = quota.path
    assert not cgroup.exists()  # removed with the environment
