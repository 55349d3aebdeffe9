"""MoneyMovement: pays through the payment API and notifies."""
