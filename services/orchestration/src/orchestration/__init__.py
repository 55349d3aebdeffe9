"""GetEmployers, GetEmployees, the pay-run state machine and the schedules."""
