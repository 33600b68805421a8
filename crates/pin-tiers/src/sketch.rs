//! The frequency sketch of TinyLFU: a count-min sketch of 4-bit counters behind a doorkeeper.

/// Estimates how often each id was seen recently, in a few bytes per id.
///
/// Four rows of saturating counters (at most 15), indexed by independent hashes; the estimate is the
/// smallest of the four. An increment raises only the id's counters that equal that smallest value
/// (conservative update, Estan and Varghese 2002), so collisions inflate estimates less. A doorkeeper bloom
/// filter absorbs the first sighting of every id, so one-hit wonders never reach the counters. After
/// `10 × width` increments (or another multiple of the width, see [`FrequencySketch::with_sample_factor`])
/// every counter is halved and the doorkeeper cleared (TinyLFU's reset), so the sketch follows changes of
/// popularity. The count of increments is halved too, as in TinyLFU and Caffeine, so after the first the
/// halvings come every `5 × width` increments (half the sample).
#[derive(Debug, Clone)]
pub struct FrequencySketch {
    counters: Vec<u8>,
    width_mask: usize,
    doorkeeper: Vec<u64>,
    door_mask: usize,
    additions: usize,
    sample: usize,
}

const ROWS: usize = 4;
const SEEDS: [u64; ROWS] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0x85EB_CA77_C2B2_AE63,
];

fn mix(x: u64, seed: u64) -> u64 {
    // splitmix64 finaliser.
    let mut z = x.wrapping_add(seed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl FrequencySketch {
    /// A sketch whose rows are `items` counters wide (rounded up to a power of two, at least 16 and at most
    /// 2^26, so 256 MiB of counters at the most whatever the caller asks).
    pub fn new(items: usize) -> Self {
        Self::with_sample_factor(items, 10)
    }

    /// The same with a sample of `factor × width` increments instead of `10 × width` (at least one).
    pub fn with_sample_factor(items: usize, factor: usize) -> Self {
        let width = items.clamp(16, 1 << 26).next_power_of_two();
        let door_bits = (width * 8).next_power_of_two();
        Self {
            counters: vec![0; width * ROWS],
            width_mask: width - 1,
            doorkeeper: vec![0; door_bits / 64],
            door_mask: door_bits - 1,
            additions: 0,
            sample: width.saturating_mul(factor).max(1),
        }
    }

    fn door_bits(&self, id: u32) -> [usize; 2] {
        let h = mix(u64::from(id), 0x2545_F491_4F6C_DD1D);
        [(h as usize) & self.door_mask, ((h >> 32) as usize) & self.door_mask]
    }

    fn slots(&self, id: u32) -> [usize; ROWS] {
        let width = self.width_mask + 1;
        std::array::from_fn(|r| r * width + (mix(u64::from(id), SEEDS[r]) as usize & self.width_mask))
    }

    /// Counts one sighting of `id`.
    pub fn increment(&mut self, id: u32) {
        let bits = self.door_bits(id);
        let in_door =
            self.doorkeeper.is_empty() || bits.iter().all(|&b| self.doorkeeper[b / 64] & (1 << (b % 64)) != 0);
        if !in_door {
            for b in bits {
                self.doorkeeper[b / 64] |= 1 << (b % 64);
            }
        } else {
            let slots = self.slots(id);
            let min = slots.iter().map(|&s| self.counters[s]).min().unwrap_or(0);
            if min < 15 {
                for s in slots {
                    if self.counters[s] == min {
                        self.counters[s] += 1;
                    }
                }
            }
        }
        self.additions += 1;
        if self.additions >= self.sample {
            self.reset();
        }
    }

    /// The estimated recent frequency of `id` (doorkeeper included).
    pub fn estimate(&self, id: u32) -> u32 {
        let min = self.slots(id).iter().map(|&s| self.counters[s]).min().unwrap_or(0);
        let bits = self.door_bits(id);
        let door = bits.iter().all(|&b| self.doorkeeper[b / 64] & (1 << (b % 64)) != 0);
        u32::from(min) + u32::from(door)
    }

    /// The increments the counts stand for: those since the last halving plus half of those before (the
    /// count the halving period is measured by). An estimate divided by it is a rate per increment.
    pub fn increments(&self) -> usize {
        self.additions
    }

    /// Halves every counter and clears the doorkeeper.
    fn reset(&mut self) {
        for c in &mut self.counters {
            *c >>= 1;
        }
        self.doorkeeper.fill(0);
        self.additions /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequent_ids_estimate_higher_and_age() {
        let mut s = FrequencySketch::new(64);
        for _ in 0..10 {
            s.increment(7);
        }
        s.increment(8);
        assert!(s.estimate(7) >= 10);
        assert_eq!(s.estimate(8), 1);
        assert_eq!(s.estimate(9), 0);
        for i in 0..10_000 {
            s.increment(1000 + i);
        }
        assert!(s.estimate(7) < 10, "old popularity fades");
    }

    #[test]
    fn conservative_update_never_undercounts() {
        // 16 counters per row for 50 ids: most share counters. Without a halving, every estimate is at least
        // the true count (up to the cap of 15 plus the doorkeeper's 1), as in a plain count-min sketch.
        let mut s = FrequencySketch::with_sample_factor(16, 1000);
        let mut truth = [0u32; 50];
        let mut x = 12_345u64;
        for _ in 0..600 {
            x = mix(x, 1);
            let id = (x % 50) as u32;
            truth[id as usize] += 1;
            s.increment(id);
        }
        for (id, &t) in truth.iter().enumerate() {
            assert!(
                s.estimate(id as u32) >= t.min(16),
                "id {id}: {} < {t}",
                s.estimate(id as u32)
            );
        }
    }
}
