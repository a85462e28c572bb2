"""Business rules written once and read everywhere: the calendar (month steps, fiscal periods) and segments."""
