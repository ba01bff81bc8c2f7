//! Random bytes from the system's source, for keys, nonces and message ids.

use crate::Error;

/// `N` fresh random bytes.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(Error::Random)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_draws_differ() -> Result<(), Error> {
        assert_ne!(random_bytes::<32>()?, random_bytes::<32>()?);
        Ok(())
    }
}
