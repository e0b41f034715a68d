"""The project service: projects, tasks, members, budgets and their history."""
