"""Demo registries: real English schools from the register plus generated schools abroad."""
