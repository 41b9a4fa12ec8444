"""In-service data from BMS and fleet systems: validated, stored in batches, latest values published."""
