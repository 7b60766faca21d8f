"""Operations: settings, logging, the application services, the CLI, benchmarks."""
