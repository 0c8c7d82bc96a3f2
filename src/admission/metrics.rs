//! Admission metrics: decisions by hook, decision, reason and namespace; latency; break-glass
//! uses. Registered into the server's registry, exported at `GET /metrics`.

use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// The admission metrics.
#[derive(Debug, Clone)]
pub struct AdmissionMetrics {
    admissions: IntCounterVec,
    latency: HistogramVec,
    break_glass: IntCounterVec,
}

impl AdmissionMetrics {
    /// The metrics, registered into `registry`.
    pub fn new(registry: &Registry) -> Result<AdmissionMetrics, prometheus::Error> {
        let admissions = IntCounterVec::new(
            Opts::new(
                "notarium_admissions_total",
                "Admission reviews by hook, decision (allow, deny, warn, break_glass), reason and namespace",
            ),
            &["hook", "decision", "reason", "namespace"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "notarium_admission_duration_seconds",
                "Time to answer an admission review, by hook",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["hook"],
        )?;
        let break_glass = IntCounterVec::new(
            Opts::new(
                "notarium_break_glass_total",
                "Admissions of images the policy denies, by the break-glass annotation, by namespace",
            ),
            &["namespace"],
        )?;
        registry.register(Box::new(admissions.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(break_glass.clone()))?;
        Ok(AdmissionMetrics {
            admissions,
            latency,
            break_glass,
        })
    }

    pub(super) fn observe(
        &self,
        hook: &str,
        decision: &str,
        reason: &str,
        namespace: &str,
        took: Duration,
    ) {
        self.admissions
            .with_label_values(&[hook, decision, reason, namespace])
            .inc();
        self.latency
            .with_label_values(&[hook])
            .observe(took.as_secs_f64());
    }

    pub(super) fn break_glass(&self, namespace: &str) {
        self.break_glass.with_label_values(&[namespace]).inc();
    }
}
