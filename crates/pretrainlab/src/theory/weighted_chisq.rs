//! STUB
#[derive(Clone, Debug)]
pub struct WeightedChiSquare { w: Vec<f64> }
impl WeightedChiSquare {
    pub fn new(weights: &[f64]) -> Result<Self, String> { let mut w = weights.to_vec(); w.sort_by(|a,b| b.total_cmp(a)); Ok(Self{w}) }
    pub fn weights(&self) -> &[f64] { &self.w }
    pub fn mean(&self) -> f64 { self.w.iter().sum() }
    pub fn variance(&self) -> f64 { 2.0*self.w.iter().map(|x|x*x).sum::<f64>() }
    pub fn cdf(&self, _x: f64) -> f64 { 0.5 }
    pub fn quantile(&self, _p: f64) -> f64 { 1.0 }
}
pub fn ks_statistic(_s: &[f64], _c: impl Fn(f64) -> f64) -> f64 { 0.0 }
pub fn ks_p_value(_d: f64, _n: usize) -> f64 { 1.0 }
