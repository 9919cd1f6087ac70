"""``novadet run`` and its parts: the config, the stages, the runner, the template, the demo."""
