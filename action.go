package mayfly

// Action names a kind of audit entry. The values are the log's vocabulary:
// investigators search by them and detection rules subscribe to them, so
// they never change, and no action is written anywhere but here.
type Action string

const (
	ActionPrincipalCreated     Action = "principal.created"
	ActionPrincipalUpdated     Action = "principal.updated"
	ActionPrincipalSuspended   Action = "principal.suspended"
	ActionPrincipalReactivated Action = "principal.reactivated"
	ActionPrincipalOffboarded  Action = "principal.offboarded"
	ActionPrincipalTransferred Action = "principal.transferred"

	ActionClientCreated       Action = "client.created"
	ActionClientSecretRotated Action = "client.secret_rotated"
	ActionClientRevoked       Action = "client.revoked"
	ActionClientTransferred   Action = "client.transferred"

	ActionCredentialCreated Action = "admin_credential.created"
	ActionCredentialRevoked Action = "admin_credential.revoked"
	ActionAdminLogin        Action = "admin.login"

	ActionCustodyGranted Action = "custody.granted"

	ActionRingCreated    Action = "ring.created"
	ActionRingRotated    Action = "ring.rotated"
	ActionRingRekeyed    Action = "ring.rekeyed"
	ActionKeyCreated     Action = "key.created"
	ActionKeyScheduled   Action = "key.scheduled"
	ActionKeyDestroyed   Action = "key.destroyed"
	ActionKeyRevoked     Action = "key.revoked"
	ActionTokensIssued   Action = "tokens.issued"
	ActionTokenRevoked   Action = "token.revoked"
	ActionRootKeyRotated Action = "root_key.rotated"

	ActionSubjectRevoked   Action = "subject.revoked"   // a not-before mark on one token subject
	ActionNamespaceRevoked Action = "namespace.revoked" // a not-before mark on every subject of a namespace

	// ActionRefreshIssued commits a batch of refresh tokens (each
	// family's first, and the successors of rotations) with a digest,
	// as tokens.issued does access tokens.
	ActionRefreshIssued Action = "refresh_tokens.issued"
	// ActionRefreshReused: a retired refresh token was presented again,
	// and its family revoked.
	ActionRefreshReused Action = "refresh.reused"

	ActionAuditKeyRotated  Action = "audit.key_rotated"
	ActionAuditKeyReplaced Action = "audit.key_replaced"
	ActionConfigOverride   Action = "config.override"

	ActionOffboardingFinished Action = "offboarding.finished"

	// ActionScopeReported records a scope report: its digest and counts.
	ActionScopeReported Action = "scope.reported"

	ActionPendingRequested  Action = "pending.requested"
	ActionPendingUnapproved Action = "pending.unapproved" // carried out without a second person
	ActionPendingApproved   Action = "pending.approved"
	ActionPendingRejected   Action = "pending.rejected"
	ActionPendingDone       Action = "pending.done"
	ActionPendingFailed     Action = "pending.failed"

	ActionSSFStreamCreated  Action = "ssf.stream.created"
	ActionSSFStreamUpdated  Action = "ssf.stream.updated"
	ActionSSFStreamStatus   Action = "ssf.stream.status"
	ActionSSFStreamDeleted  Action = "ssf.stream.deleted"
	ActionSSFSubjectAdded   Action = "ssf.subject.added"
	ActionSSFSubjectRemoved Action = "ssf.subject.removed"
)
