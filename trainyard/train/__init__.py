"""Azure ML's `azureml.train`: the 2018 Estimator (trainyard.train.estimator) and the widget path
`trainyard.train.widgets` (the 2018 tutorial's `azureml.train.widgets`)."""
