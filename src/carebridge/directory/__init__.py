"""Directory: doctor, nurse and patient profiles, the specialties catalog, doctor search."""
