"""The processes of a run: the parent (scheduler, spawner, settings, process_group, reports, known_certificates, progress, preflight) and one module per child role."""
