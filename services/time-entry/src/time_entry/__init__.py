"""TimeEntry step: hours for the period per employee."""
