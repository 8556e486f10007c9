"""Pure scoring domain of the fraud pipeline: standard library only, no boto3, no I/O
beyond reading its own bundled files (rules.json, models/*.json).

Public API (import the submodules directly; this package imports nothing eagerly
to keep Lambda cold starts short):

- fraud.models: Transaction (to_item / from_item), Reason, Assessment (.flagged, .to_item)
- fraud.validation: FieldError, ValidationError, Submission,
  parse_submission(payload, *, now_ms=None), parse_feedback(payload)
- fraud.cards: luhn_valid(pan), fingerprint(pan, key), mask(last4),
  to_transaction(sub, *, transaction_id, received_at, fingerprint_key)
- fraud.rules_config: RulesConfig.load(path=None) / .from_dict(data), ConfigError,
  RulesConfig.decide(score), RulesConfig.should_alert(score), .alert_threshold
- fraud.scoring: score(txn, features, rules, model=None), Model (protocol)
- fraud.engine: FraudEngine(rules=None, model=None).assess_batch(txns, store, max_attempts=5),
  FraudEngine.record_label(transaction, label, labelled_at, store, max_attempts=5) -> bool,
  StateStore (protocol), StateWrite, StateConflict, InMemoryStateStore
- fraud.alerts: alert_message(txn, assessment), format_alert(message), validate_message(message)
"""
