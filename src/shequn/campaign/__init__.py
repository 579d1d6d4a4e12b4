"""Campaign playbooks: timed plans of group actions, run by the scheduler across groups."""
