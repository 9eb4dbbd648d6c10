"""Trained models outside training: model directories (``model_dir``), inputs, and the
``predict``, ``export``, ``explain`` and ``convert`` commands."""
