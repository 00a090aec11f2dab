package httpapi

// The inventory and policy report.

func (s *Server) doctorRoutes() {}
