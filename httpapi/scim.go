package httpapi

// SCIM 2.0 provisioning (RFC 7643, RFC 7644).

func (s *Server) scimRoutes() {}
