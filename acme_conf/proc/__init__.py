"""The processes of a run: the parent (scheduler, spawner, settings, process_group, reports, known_certificates, progress) and one module per child role."""
