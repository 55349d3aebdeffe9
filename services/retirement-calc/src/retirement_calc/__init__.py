"""RetirementCalc step: 401(k) deferrals and employer match."""
