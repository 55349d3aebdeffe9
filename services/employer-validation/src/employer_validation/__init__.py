"""EmployerValidation: completes an employer and queues its payment."""
