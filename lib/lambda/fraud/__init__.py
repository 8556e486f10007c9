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
  RulesConfig.decide(score), .should_alert(score), .alert_threshold, .model_artifact
- fraud.features: compute(...) -> Features, FEATURE_NAMES, WINDOWS (behaviour features, window edges);
  Features is the read-only name -> value mapping over one tuple (`.vector`, FEATURE_NAMES order)
- fraud.scoring: score(txn, features, rules, model=None), Model (protocol); Scorer(rules, model) is
  score() prepared once for Features input (what the engine runs)
- fraud.model: load_model(path=None), from_dict(data), TreeEnsemble (.predict, .predict_vector),
  LogisticModel, ModelError
- fraud.engine: FraudEngine(rules=None, model=None) (rules only unless a model is given),
  FraudEngine.from_config(rules=None) (rules + the model artifact rules.json names: the deployed setup),
  .assess_batch(txns, store, max_attempts=5) -> list[Assessment],
  .record_label(transaction, label, labelled_at, store, max_attempts=5) -> bool,
  StateStore (protocol), StateWrite, StateConflict, InMemoryStateStore (.derived: the engine's
  in-memory states of stored documents, with their derived columns; never part of a document)
- fraud.state: card_key, customer_key, merchant_key (state document keys and shapes)
- fraud.replay: replay(events, engine, on_scored, *, label_delay_ms, ...) (backtest/training)
- fraud.alerts: alert_message(txn, assessment), format_alert(message), validate_message(message)

Additions to the originally agreed API: `parse_submission(..., now_ms=)`, `Assessment.to_item()`,
`RulesConfig.should_alert/decide`, `FraudEngine.from_config`, `record_label(...) -> bool`,
`max_attempts` on `record_label`. No agreed signature changed.
"""
