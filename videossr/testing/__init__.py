"""Test support that runs real frameworks on a CPU: verl's CPU platform and a test-only reward.

Nothing here is imported by the package, the training launcher or the evaluation code: these
modules are loaded by name only (``VERL_USE_EXTERNAL_MODULES``, ``reward.custom_reward_function``)
by ``train/smoke_cpu.sh`` and the tests that need them.
"""
