package reconcile

// Reasons, in one place: the reasons of the Events recorded on a PetSet and
// of its status conditions. Each constant is named after its value. The
// values are API: users and tools grep for them, so they do not change.

// Reasons of Events about pets and claims.
const (
	ReasonSuccessfulCreate      = "SuccessfulCreate"
	ReasonSuccessfulDelete      = "SuccessfulDelete"
	ReasonFailedCreate          = "FailedCreate"
	ReasonFailedDelete          = "FailedDelete"
	ReasonFailedUpdate          = "FailedUpdate"
	ReasonFailedCreateClaim     = "FailedCreateClaim"
	ReasonRecreatingFailedPet   = "RecreatingFailedPet"
	ReasonReplacingUnhealthyPet = "ReplacingUnhealthyPet"
	ReasonOrderedTeardown       = "OrderedTeardown"
	ReasonExpandingClaim        = "ExpandingClaim"
	ReasonFailedRevision        = "FailedRevision"
)

// Reasons of Progressing=False, each also recorded as a Warning Event when
// the set becomes blocked for it.
const (
	ReasonServiceNotFound  = "ServiceNotFound"
	ReasonPetNotReady      = "PetNotReady"
	ReasonPaused           = "Paused"
	ReasonInvalidSpec      = "InvalidSpec"
	ReasonPetNameTaken     = "PetNameTaken"
	ReasonClaimTerminating = "ClaimTerminating"
	ReasonRolloutStuck     = "RolloutStuck"
	// ReasonFailedCreate and ReasonFailedCreateClaim also block a set when
	// the API server rejects the object (admission, quota).
)

// Reasons of the Ready and Progressing conditions otherwise.
const (
	ReasonAllPetsReady = "AllPetsReady"
	ReasonPetsNotReady = "PetsNotReady"
	ReasonComplete     = "Complete"
	ReasonConverging   = "Converging"
	ReasonDeleting     = "Deleting"
)

// Reasons of the VolumeClaimsResized condition.
const (
	ReasonResized          = "Resized"
	ReasonResizing         = "Resizing"
	ReasonResizeNotAllowed = "ResizeNotAllowed"
)
