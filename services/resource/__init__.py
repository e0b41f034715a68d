"""The resource service: people as resources, their capacity, bookings, absences and utilisation."""
